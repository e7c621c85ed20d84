// The visitor's side of one conversation: turns server frames into store and view
// changes, keeps the outbox flowing until acked, and rebuilds state on resume.
var TYPING_IDLE_MS = 3000;
var TYPING_SHOW_MS = 6000;
var MAX_TEXT = 4000;

function createChat(cfg, store, locale, t, emit) {
  var d = store.data, welcomed = false, everUp = false, freshTried = false;
  var mode = null, agentName = '', lastAgent = '', unread = 0, lastRead = 0;
  var seen = {}, streams = {}, done = {};
  var typingOn = false, typingTimer = null, theirTimer = null, retryTimer = null;

  var view = createView(cfg, t, locale, {
    open: open,
    close: close,
    send: send,
    typing: typing,
    handoff: function () { if (welcomed) conn.send({ t: 'handoff' }); },
    csat: function (score, comment) {
      var f = { t: 'csat', score: score };
      if (comment) f.comment = comment;
      if (!conn.send(f)) return;
      d.rated = d.conv;
      store.save();
      view.csat(true, true);
    },
    email: function (addr) {
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(addr) || !conn.send({ t: 'email', email: addr })) return;
      d.emailed = d.conv;
      store.save();
      view.email(true, addr);
    },
    wait: function (choice) {
      if (conn.send({ t: 'wait', choice: choice })) view.wait(false);
    }
  });
  var privacy = createPrivacy(cfg, t, store, view, reset, function (f) { return conn.send(f); });
  var conn = createConnection(cfg.ws + '/v1/ws/visitor?site_key=' + encodeURIComponent(cfg.siteKey), {
    open: hello,
    frame: function (f) {
      var fn = handlers[f.t];
      if (fn) fn(f);
    },
    close: lost
  });

  var handlers = {
    welcome: welcome,
    msg: onMsg,
    ack: function (f) {
      var o = store.unqueue(f.id);
      if (typeof f.seq !== 'number') return;
      // Marks the seq seen (the echo is then dropped) but does not move the resume
      // point: an earlier event may still be on its way to us.
      seen[d.conv + ':' + f.seq] = 1;
      view.settle(f.id, f.seq, d.conv);
      if (o) store.remember({ seq: f.seq, id: f.id, conversation_id: d.conv, author: { role: 'visitor' }, text: o.text });
      store.save();
    },
    'bot.start': function (f) {
      streams[f.stream_id] = '';
      view.stream(f.stream_id, '');
    },
    'bot.delta': function (f) {
      var cur = streams[f.stream_id] || '', off = typeof f.offset === 'number' ? f.offset : cur.length;
      // A gap means a lost delta: wait for the snapshot or the final msg instead.
      if (done[f.stream_id] || off > cur.length) return;
      streams[f.stream_id] = cur = cur.slice(0, off) + String(f.text || '');
      view.stream(f.stream_id, cur);
    },
    'bot.snapshot': function (f) {
      if (done[f.stream_id]) return;
      streams[f.stream_id] = String(f.text || '');
      view.stream(f.stream_id, streams[f.stream_id]);
    },
    typing: function (f) {
      var a = f.author || {};
      if (a.role === 'visitor') return;
      clearTimeout(theirTimer);
      view.typing(f.on ? a.name || (a.role === 'bot' ? t('bot') : t('someone')) : '');
      // A lost "off" frame must not leave the indicator up forever.
      if (f.on) theirTimer = setTimeout(view.typing, TYPING_SHOW_MS, '');
    },
    mode: setMode,
    transcript: function () { view.notice(t('pMailed')); },
    error: onError
  };

  function hello() {
    var f = { t: 'hello', locale: locale };
    if (d.token) {
      f.visitor_token = d.token;
      if (d.conv) f.conversation_id = d.conv;
      f.last_seq = d.seq;
    }
    conn.send(f);
  }

  function welcome(f) {
    if (f.visitor_token) d.token = f.visitor_token;
    privacy.token();
    var behind = f.conversation_id === d.conv && typeof f.last_seq === 'number' && f.last_seq < d.seq;
    if (f.conversation_id !== d.conv || behind) {
      // Another conversation, or a server that knows less than our cache: the cached
      // transcript no longer matches the record, so drop it and take the server's.
      d.history = [];
      seen = {};
      view.clear();
      d.outbox.forEach(function (o) { view.pending(o.id, o.text); });
      store.newConversation(f.conversation_id);
      if (behind) {
        store.save();
        return conn.redial();
      }
    }
    welcomed = everUp = true;
    conn.healthy();
    view.status('');
    // Streams in flight are redrawn by bot.snapshot; finished ones come back as msg.
    view.dropStreams();
    streams = {};
    setMode(f);
    flush();
    if (d.who) conn.send({ t: 'identify', name: d.who.name, email: d.who.email });
    store.save();
    read();
  }

  function onMsg(f) {
    var conv = f.conversation_id || d.conv;
    // A new conversation (after one was closed) continues in the same log.
    if (conv && conv !== d.conv) store.newConversation(conv);
    if (typeof f.seq === 'number') {
      if (f.seq > d.seq) d.seq = f.seq;
      if (seen[conv + ':' + f.seq]) return store.save();
      seen[conv + ':' + f.seq] = 1;
    }
    if (f.stream_id) {
      done[f.stream_id] = 1;
      delete streams[f.stream_id];
    }
    var a = f.author && typeof f.author === 'object' ? f.author : { role: 'system' };
    var m = { seq: f.seq, id: f.id, conversation_id: conv, author: a, text: String(f.text || ''), ts: f.ts, stream_id: f.stream_id, sources: f.sources };
    view.add(m);
    if (a.role === 'visitor' && f.id) store.unqueue(f.id);
    store.remember(m);
    store.save();
    if (a.role === 'visitor') return;
    if (a.role === 'agent' && a.name) lastAgent = a.name;
    clearTimeout(theirTimer);
    view.typing('');
    // Hints on system messages (docs/protocol.md): nobody online, or a long wait.
    if (mode === 'queued' && (f.ask_email || f.agents_online === false)) offerEmail();
    if (mode === 'queued' && f.offer_wait_choice) view.wait(true);
    if (view.isOpen()) read();
    else view.unread(++unread);
    emit('message', JSON.parse(JSON.stringify(m)));
  }

  function setMode(f) {
    if (f.conversation_id && d.conv && f.conversation_id !== d.conv) store.newConversation(f.conversation_id);
    var name = (f.agent && f.agent.name) || lastAgent, changed = f.mode !== mode || name !== agentName;
    mode = f.mode;
    agentName = name;
    view.banner(mode === 'queued' ? t('queued') : mode === 'agent' ? t('agent', name || t('someone')) : mode === 'closed' ? t('closed') : '');
    view.handoff(mode === 'bot');
    view.csat(mode === 'closed' && d.rated !== d.conv);
    if (cfg.offline && mode !== 'agent' && mode !== 'closed') {
      // outside business hours (docs/widget.md): the offline message, and an address
      view.banner(cfg.offline === true ? t('offline') : cfg.offline);
      offerEmail();
    } else if (mode !== 'queued') {
      view.email(false);
      view.wait(false);
    } else if (f.agents_online === false) {
      // Nobody is online to take the handoff: offer to answer by email instead.
      offerEmail();
    }
    if (changed && f.t === 'mode') emit('mode', { mode: mode, agent: f.agent || null });
  }

  function offerEmail() {
    if (d.emailed !== d.conv) view.email(true);
  }

  function onError(f) {
    // unknown_type: an older server without our optional frames (identify, email).
    if (f.code === ERROR.UNKNOWN_TYPE) return;
    if (f.code === ERROR.RATE_LIMITED) {
      view.notice(t('slowDown'));
      clearTimeout(retryTimer);
      retryTimer = setTimeout(flush, 3000);
      return;
    }
    if (f.ref && store.unqueue(f.ref)) {
      // Resending what the server refused on its merits would only be refused again.
      store.save();
      view.failed(f.ref);
    }
    view.notice(t(f.code === ERROR.TOO_LONG ? 'tooLong'
      : f.code === ERROR.QUOTA_EXCEEDED || f.code === ERROR.UNAVAILABLE ? 'unavailable' : 'error'));
  }

  function lost(code, info) {
    welcomed = false;
    typingOn = false;
    clearTimeout(typingTimer);
    view.typing('');
    if (info.retry) return view.status('reconnecting');
    if (code === CLOSE.UNAUTHORIZED && d.token && !freshTried) {
      // A stale or revoked visitor token: start over once as a new visitor.
      freshTried = true;
      forget();
      return conn.start();
    }
    view.status(info.why);
  }

  function flush() {
    if (!welcomed) return;
    d.outbox.forEach(function (o) { conn.send({ t: 'msg', id: o.id, text: o.text }); });
  }

  function read() {
    if (welcomed && view.isOpen() && d.seq > lastRead) {
      lastRead = d.seq;
      conn.send({ t: 'read', seq: d.seq });
    }
  }

  function send(text) {
    text = String(text || '').trim();
    if (!text || privacy.blocked()) return false;
    if (text.length > MAX_TEXT) {
      view.notice(t('tooLong'));
      return false;
    }
    var id = newClientId();
    d.outbox.push({ id: id, text: text });
    store.save();
    view.pending(id, text);
    stopTyping();
    if (welcomed) conn.send({ t: 'msg', id: id, text: text });
    else start();
    return true;
  }

  function typing() {
    if (!welcomed) return;
    if (!typingOn) typingOn = conn.send({ t: 'typing', on: true });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingOn) conn.send({ t: 'typing', on: false });
    typingOn = false;
  }

  function start() {
    if (!cfg.siteKey) return view.status('noKey');
    if (conn.running()) return;
    view.status(everUp ? 'reconnecting' : 'connecting');
    conn.start();
  }

  function open() {
    view.open();
    unread = 0;
    view.unread(0);
    start();
    read();
    emit('open');
  }

  function close() {
    view.close();
    emit('close');
  }

  function forget() {
    store.reset();
    seen = {};
    streams = {};
    mode = null;
    agentName = lastAgent = '';
    unread = lastRead = 0;
    view.clear();
    view.unread(0);
    setMode({ mode: null });
    privacy.refresh();
  }

  function reset() {
    conn.stop();
    welcomed = false;
    freshTried = false;
    forget();
    view.status('');
    if (view.isOpen()) start();
  }

  view.mount();
  if (cfg.offline) setMode({ mode: null });  // the offline message before any socket
  view.unread(0);
  d.history.forEach(function (m) {
    seen[m.conversation_id + ':' + m.seq] = 1;
    if (m.author && m.author.role === 'agent' && m.author.name) lastAgent = m.author.name;
    view.add(m);
  });
  d.outbox.forEach(function (o) { view.pending(o.id, o.text); });
  // A returning visitor connects at once so agent replies reach the badge;
  // a new one only when they open the chat.
  if (d.token || d.outbox.length) start();

  return {
    open: open,
    close: close,
    identify: function (who) {
      if (!who || typeof who !== 'object') return;
      d.who = { name: String(who.name || '').slice(0, 200), email: String(who.email || '').slice(0, 254) };
      store.save();
      if (welcomed) conn.send({ t: 'identify', name: d.who.name, email: d.who.email });
    },
    reset: reset
  };
}
