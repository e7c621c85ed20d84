// UI strings, English and Thai. `{}` is replaced by the one argument.
var STRINGS = {
  en: {
    title: 'Chat with us',
    open: 'Open chat',
    openUnread: 'Open chat, {} unread',
    close: 'Close chat',
    log: 'Conversation',
    input: 'Message',
    placeholder: 'Type your message…',
    send: 'Send',
    handoff: 'Talk to a person',
    queued: 'Waiting for a person to join…',
    agent: 'You are chatting with {}',
    someone: 'a support agent',
    closed: 'This conversation has ended.',
    csat: 'How did we do?',
    star: '{} out of 5',
    comment: 'Comment (optional)',
    rate: 'Send rating',
    thanks: 'Thank you for your feedback!',
    noAgents: 'No one is available right now. Leave your email and we will reply there.',
    offline: 'We are closed right now. Leave your email and we will get back to you.',
    email: 'Your email',
    emailSent: 'Thanks, we will reply to {}.',
    keepWaiting: 'Keep waiting',
    backToBot: 'Back to the assistant',
    connecting: 'Connecting…',
    reconnecting: 'Connection lost. Reconnecting…',
    unauthorized: 'Chat is unavailable: this session was not accepted.',
    forbidden: 'Chat is not enabled for this website.',
    noKey: 'Chat is not set up on this page (missing site key).',
    sending: 'Sending…',
    failed: 'Not delivered',
    typing: '{} is typing…',
    bot: 'Assistant',
    you: 'You',
    sources: 'Sources',
    tooLong: 'That message is too long.',
    slowDown: 'You are sending messages too fast. Retrying shortly.',
    unavailable: 'The assistant is unavailable right now.',
    error: 'Something went wrong. Please try again.'
  },
  th: {
    title: 'แชทกับเรา',
    open: 'เปิดแชท',
    openUnread: 'เปิดแชท มี {} ข้อความที่ยังไม่ได้อ่าน',
    close: 'ปิดแชท',
    log: 'บทสนทนา',
    input: 'ข้อความ',
    placeholder: 'พิมพ์ข้อความ…',
    send: 'ส่ง',
    handoff: 'คุยกับเจ้าหน้าที่',
    queued: 'กำลังรอเจ้าหน้าที่เข้าร่วมสนทนา…',
    agent: 'คุณกำลังคุยกับ {}',
    someone: 'เจ้าหน้าที่',
    closed: 'การสนทนานี้สิ้นสุดแล้ว',
    csat: 'คุณพอใจกับบริการของเราแค่ไหน',
    star: '{} จาก 5',
    comment: 'ความคิดเห็น (ไม่บังคับ)',
    rate: 'ส่งคะแนน',
    thanks: 'ขอบคุณสำหรับความคิดเห็นของคุณ',
    noAgents: 'ขณะนี้ไม่มีเจ้าหน้าที่ว่าง กรุณาฝากอีเมลไว้ แล้วเราจะตอบกลับทางอีเมล',
    offline: 'ขณะนี้อยู่นอกเวลาทำการ ฝากอีเมลไว้แล้วเราจะติดต่อกลับ',
    email: 'อีเมลของคุณ',
    emailSent: 'ขอบคุณ เราจะตอบกลับไปที่ {}',
    keepWaiting: 'รอต่อ',
    backToBot: 'กลับไปคุยกับผู้ช่วย',
    connecting: 'กำลังเชื่อมต่อ…',
    reconnecting: 'การเชื่อมต่อขาดหาย กำลังเชื่อมต่อใหม่…',
    unauthorized: 'ไม่สามารถใช้แชทได้ เนื่องจากเซสชันนี้ไม่ได้รับอนุญาต',
    forbidden: 'แชทไม่ได้เปิดใช้สำหรับเว็บไซต์นี้',
    noKey: 'ยังไม่ได้ตั้งค่าแชทในหน้านี้ (ไม่มีรหัสเว็บไซต์)',
    sending: 'กำลังส่ง…',
    failed: 'ส่งไม่สำเร็จ',
    typing: '{} กำลังพิมพ์…',
    bot: 'ผู้ช่วย',
    you: 'คุณ',
    sources: 'แหล่งข้อมูล',
    tooLong: 'ข้อความยาวเกินไป',
    slowDown: 'คุณส่งข้อความเร็วเกินไป ระบบจะลองส่งใหม่อีกครั้ง',
    unavailable: 'ขณะนี้ผู้ช่วยไม่พร้อมให้บริการ',
    error: 'เกิดข้อผิดพลาด กรุณาลองใหม่อีกครั้ง'
  }
};

function pickLocale(wanted) {
  var list = [wanted].concat(navigator.languages || [navigator.language]);
  for (var i = 0; i < list.length; i++) {
    var l = String(list[i] || '').toLowerCase().slice(0, 2);
    if (STRINGS[l]) return l;
  }
  return 'en';
}

function translator(locale) {
  var s = STRINGS[locale] || STRINGS.en;
  return function (key, arg) {
    var v = s[key] || STRINGS.en[key] || key;
    return arg == null ? v : v.replace('{}', arg);
  };
}
