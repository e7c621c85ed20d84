// The settings page's words (English and Thai) and the pieces its forms are built from:
// one form per part (a heading, fields, a Save button and its own status line).
addStrings({
  en: {
    'settings.button': 'Settings', 'settings.back': 'Conversations', 'settings.title': 'Settings',
    'settings.save': 'Save', 'settings.saved': 'Saved.', 'settings.error': 'Not saved: {}',
    'settings.loading': 'Loading…', 'settings.default': 'default',
    'settings.org': 'Organisation', 'settings.org.name': 'Organisation name',
    'settings.widget': 'Widget', 'settings.color': 'Colour', 'settings.wtitle': 'Title',
    'settings.position': 'Position', 'settings.right': 'Bottom right', 'settings.left': 'Bottom left',
    'settings.locale': 'Default language', 'settings.auto': 'The visitor\'s browser',
    'settings.preview': 'Preview (the real widget, with your unsaved changes)',
    'settings.preview.frame': 'Widget preview',
    'settings.snippet': 'Embed snippet: paste it before </body> on every page of your site',
    'settings.copy': 'Copy snippet', 'settings.copied': 'Copied to the clipboard.',
    'settings.copy.select': 'Selected: press Ctrl+C (⌘C) to copy.',
    'settings.origins': 'Allowed origins',
    'settings.origins.help': 'One per line, e.g. https://shop.example.com. Empty: any site may embed the widget.',
    'settings.assignment': 'Assignment', 'settings.mode': 'New conversations',
    'settings.manual': 'Agents claim them', 'settings.autoassign': 'Assigned automatically',
    'settings.capacity': 'Conversations per agent at once',
    'settings.bot': 'Bot', 'settings.threshold': 'Answer threshold (0–1; blank: the server\'s)',
    'settings.kw.en': 'Handoff keywords, English (one per line, whole words)',
    'settings.kw.th': 'Handoff keywords, Thai (one per line)',
    'settings.turns': 'Unhelpful answers before a person is asked (blank: the server\'s)',
    'settings.wait': 'Queue wait before the visitor may go back to the bot, in seconds (blank: the server\'s)',
    'settings.hours': 'Business hours', 'settings.hours.on': 'Only within business hours',
    'settings.tz': 'Time zone', 'settings.open': 'Open', 'settings.from': 'From', 'settings.to': 'To',
    'settings.hours.help': 'Outside them the widget shows the offline message and asks for an email; the bot still answers.',
    'settings.offline': 'Offline message (blank: a standard one)',
    'day.mon': 'Monday', 'day.tue': 'Tuesday', 'day.wed': 'Wednesday', 'day.thu': 'Thursday',
    'day.fri': 'Friday', 'day.sat': 'Saturday', 'day.sun': 'Sunday',
    'settings.canned': 'Canned replies', 'settings.shortcut': 'Shortcut (type /shortcut then Tab in a reply)',
    'settings.text': 'Text', 'settings.add': 'Add', 'settings.update': 'Save changes',
    'settings.cancel': 'Cancel', 'settings.edit': 'Edit', 'settings.delete': 'Delete',
    'settings.canned.none': 'No canned replies yet.',
    'settings.tags': 'Tags', 'settings.tag.new': 'New tag', 'settings.tag.remove': 'Remove tag {}',
    'settings.tags.none': 'No tags yet.', 'lang.en': 'English', 'lang.th': 'Thai'
  },
  th: {
    'settings.button': 'ตั้งค่า', 'settings.back': 'บทสนทนา', 'settings.title': 'ตั้งค่า',
    'settings.save': 'บันทึก', 'settings.saved': 'บันทึกแล้ว', 'settings.error': 'บันทึกไม่สำเร็จ: {}',
    'settings.loading': 'กำลังโหลด…', 'settings.default': 'ค่าเริ่มต้น',
    'settings.org': 'องค์กร', 'settings.org.name': 'ชื่อองค์กร',
    'settings.widget': 'วิดเจ็ต', 'settings.color': 'สี', 'settings.wtitle': 'หัวข้อ',
    'settings.position': 'ตำแหน่ง', 'settings.right': 'มุมขวาล่าง', 'settings.left': 'มุมซ้ายล่าง',
    'settings.locale': 'ภาษาเริ่มต้น', 'settings.auto': 'ตามเบราว์เซอร์ของผู้เยี่ยมชม',
    'settings.preview': 'ตัวอย่าง (วิดเจ็ตจริง พร้อมการแก้ไขที่ยังไม่ได้บันทึก)',
    'settings.preview.frame': 'ตัวอย่างวิดเจ็ต',
    'settings.snippet': 'โค้ดฝัง: วางไว้ก่อน </body> ในทุกหน้าของเว็บไซต์',
    'settings.copy': 'คัดลอกโค้ด', 'settings.copied': 'คัดลอกแล้ว',
    'settings.copy.select': 'เลือกข้อความแล้ว: กด Ctrl+C (⌘C) เพื่อคัดลอก',
    'settings.origins': 'โดเมนที่อนุญาต',
    'settings.origins.help': 'บรรทัดละหนึ่งรายการ เช่น https://shop.example.com เว้นว่าง: ทุกเว็บไซต์ฝังวิดเจ็ตได้',
    'settings.assignment': 'การมอบหมายงาน', 'settings.mode': 'บทสนทนาใหม่',
    'settings.manual': 'เจ้าหน้าที่กดรับเอง', 'settings.autoassign': 'มอบหมายอัตโนมัติ',
    'settings.capacity': 'จำนวนบทสนทนาพร้อมกันต่อเจ้าหน้าที่',
    'settings.bot': 'บอท', 'settings.threshold': 'เกณฑ์การตอบ (0–1 เว้นว่าง: ค่าของเซิร์ฟเวอร์)',
    'settings.kw.en': 'คำที่ส่งต่อให้เจ้าหน้าที่ ภาษาอังกฤษ (บรรทัดละคำ)',
    'settings.kw.th': 'คำที่ส่งต่อให้เจ้าหน้าที่ ภาษาไทย (บรรทัดละคำ)',
    'settings.turns': 'จำนวนคำตอบที่ไม่ช่วยก่อนส่งต่อ (เว้นว่าง: ค่าของเซิร์ฟเวอร์)',
    'settings.wait': 'เวลารอในคิวก่อนเสนอให้กลับไปคุยกับบอท (วินาที เว้นว่าง: ค่าของเซิร์ฟเวอร์)',
    'settings.hours': 'เวลาทำการ', 'settings.hours.on': 'ให้บริการเฉพาะในเวลาทำการ',
    'settings.tz': 'เขตเวลา', 'settings.open': 'เปิด', 'settings.from': 'ตั้งแต่', 'settings.to': 'ถึง',
    'settings.hours.help': 'นอกเวลาทำการ วิดเจ็ตจะแสดงข้อความนอกเวลาและขออีเมล บอทยังตอบได้ตามปกติ',
    'settings.offline': 'ข้อความนอกเวลาทำการ (เว้นว่าง: ข้อความมาตรฐาน)',
    'day.mon': 'วันจันทร์', 'day.tue': 'วันอังคาร', 'day.wed': 'วันพุธ', 'day.thu': 'วันพฤหัสบดี',
    'day.fri': 'วันศุกร์', 'day.sat': 'วันเสาร์', 'day.sun': 'วันอาทิตย์',
    'settings.canned': 'ข้อความสำเร็จรูป', 'settings.shortcut': 'คำย่อ (พิมพ์ /คำย่อ แล้วกด Tab ในช่องตอบ)',
    'settings.text': 'ข้อความ', 'settings.add': 'เพิ่ม', 'settings.update': 'บันทึกการแก้ไข',
    'settings.cancel': 'ยกเลิก', 'settings.edit': 'แก้ไข', 'settings.delete': 'ลบ',
    'settings.canned.none': 'ยังไม่มีข้อความสำเร็จรูป',
    'settings.tags': 'แท็ก', 'settings.tag.new': 'แท็กใหม่', 'settings.tag.remove': 'ลบแท็ก {}',
    'settings.tags.none': 'ยังไม่มีแท็ก', 'lang.en': 'อังกฤษ', 'lang.th': 'ไทย'
  }
});

var SETTINGS_DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

function settingsLines(text) { return text.split('\n').map(function (s) { return s.trim(); }).filter(Boolean); }
function settingsNumber(input) { return input.value.trim() === '' ? null : Number(input.value); }

// `patch(form, body)` saves a part; the pieces append to `section`
function settingsParts(section, patch) {
  function i18n(node, key) { node.dataset.i18n = key; node.textContent = tr(key); return node; }
  function part(id, key, save) {
    var form = section.appendChild(el('form', 'settings-part'));
    form.id = id;
    form.noValidate = true;
    var h = form.appendChild(i18n(el('h3'), key));
    h.id = id + '-title';
    form.setAttribute('aria-labelledby', h.id);
    if (save) {
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        patch(form, save());
      });
    }
    return form;
  }
  function field(form, id, key, tag, type) {
    var label = form.appendChild(i18n(el('label'), key));
    label.htmlFor = id;
    var input = form.appendChild(el(tag || 'input'));
    input.id = id;
    if (type) input.type = type;
    return input;
  }
  function choice(form, id, key, options) {
    var select = field(form, id, key, 'select');
    options.forEach(function (o) { i18n(select.appendChild(el('option')), o[1]).value = o[0]; });
    return select;
  }
  function saveRow(form) {
    var row = form.appendChild(el('div', 'save-row'));
    i18n(row.appendChild(el('button')), 'settings.save').type = 'submit';
    var s = row.appendChild(el('span', 'sub'));
    s.setAttribute('role', 'status');
    form.statusLine = s;
    return row;
  }
  return { part: part, field: field, choice: choice, saveRow: saveRow, i18n: i18n };
}

// the org's tags part: a list with a remove button each and a field to add one; the
// render function to call when the org is (re)loaded
function settingsTags(parts, patch, getOrg) {
  var tagsForm = parts.part('settings-tags', 'settings.tags', null);
  var tagList = tagsForm.appendChild(el('ul', 'tags'));
  tagList.id = 'tag-list';
  var tagsNone = parts.i18n(tagsForm.appendChild(el('p', 'sub')), 'settings.tags.none');
  var tagNew = parts.field(tagsForm, 'tag-new', 'settings.tag.new');
  tagNew.maxLength = 40;
  var tagRow = tagsForm.appendChild(el('div', 'save-row'));
  parts.i18n(tagRow.appendChild(el('button')), 'settings.add').type = 'submit';
  var tagStatus = tagRow.appendChild(el('span', 'sub'));
  tagStatus.setAttribute('role', 'status');
  tagsForm.statusLine = tagStatus;

  function render() {
    var tags = (getOrg() && getOrg().tags) || [];
    tagList.replaceChildren.apply(tagList, tags.map(function (t) {
      var li = el('li', 'tag');
      li.appendChild(el('span', null, t));
      var x = li.appendChild(el('button', null, '×'));
      x.type = 'button';
      x.setAttribute('aria-label', tr('settings.tag.remove', t));
      x.addEventListener('click', function () {
        patch(tagsForm, { tags: tags.filter(function (o) { return o !== t; }) });
      });
      return li;
    }));
    tagList.hidden = !tags.length;
    tagsNone.hidden = !!tags.length;
  }

  tagsForm.addEventListener('submit', function (e) {
    e.preventDefault();
    var t = tagNew.value.trim();
    if (!t || !getOrg()) return;
    patch(tagsForm, { tags: getOrg().tags.concat([t]) }).then(function () { tagNew.value = ''; });
  });
  return render;
}
