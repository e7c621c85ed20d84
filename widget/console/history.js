// Conversation history (every staff role reads it): find past conversations by visitor
// (id or email), tag, status, agent and creation date (GET /v1/conversations, keyset pages),
// and open one read-only with its timeline: messages, notes, handoffs and CSAT
// (GET /v1/conversations/{id}/timeline). It builds its own button and section; every
// value goes in through textContent.
addStrings({
  en: {
    'history.button': 'History', 'history.back': 'Conversations', 'history.title': 'Conversation history',
    'history.visitor': 'Visitor (id or email)', 'history.tag': 'Tag', 'history.status': 'Status',
    'history.any': 'Any', 'history.open': 'Open', 'history.closed': 'Closed',
    'history.agent': 'Agent', 'history.from': 'Created from', 'history.to': 'Created to',
    'history.search': 'Search', 'history.more': 'Load more', 'history.loading': 'Loading…',
    'history.none': 'No conversations match.', 'history.count': '{} conversations',
    'history.col.created': 'Created', 'history.col.visitor': 'Visitor', 'history.col.mode': 'Status',
    'history.col.tags': 'Tags', 'history.col.last': 'Last message', 'history.view': 'View',
    'history.timeline': 'Timeline (read only)', 'history.close': 'Back to results',
    'history.note': 'Private note', 'history.handoff': 'Handoff: {}', 'history.mode': 'Mode: {}',
    'history.csat': 'Rating: {} / 5', 'history.nocsat': 'Not rated', 'history.closedat': 'Closed {}',
    'history.createdat': 'Created {}', 'history.anonymous': 'Anonymous visitor',
    'history.error': 'Error: {}'
  },
  th: {
    'history.button': 'ประวัติ', 'history.back': 'บทสนทนา', 'history.title': 'ประวัติการสนทนา',
    'history.visitor': 'ผู้เยี่ยมชม (รหัสหรืออีเมล)', 'history.tag': 'แท็ก', 'history.status': 'สถานะ',
    'history.any': 'ทั้งหมด', 'history.open': 'เปิดอยู่', 'history.closed': 'ปิดแล้ว',
    'history.agent': 'เจ้าหน้าที่', 'history.from': 'สร้างตั้งแต่', 'history.to': 'สร้างถึง',
    'history.search': 'ค้นหา', 'history.more': 'โหลดเพิ่ม', 'history.loading': 'กำลังโหลด…',
    'history.none': 'ไม่พบบทสนทนาที่ตรงกัน', 'history.count': '{} บทสนทนา',
    'history.col.created': 'สร้างเมื่อ', 'history.col.visitor': 'ผู้เยี่ยมชม', 'history.col.mode': 'สถานะ',
    'history.col.tags': 'แท็ก', 'history.col.last': 'ข้อความล่าสุด', 'history.view': 'ดู',
    'history.timeline': 'ลำดับเหตุการณ์ (อ่านอย่างเดียว)', 'history.close': 'กลับไปที่ผลการค้นหา',
    'history.note': 'บันทึกภายใน', 'history.handoff': 'ส่งต่อ: {}', 'history.mode': 'สถานะ: {}',
    'history.csat': 'คะแนน: {} / 5', 'history.nocsat': 'ยังไม่ได้ให้คะแนน', 'history.closedat': 'ปิดเมื่อ {}',
    'history.createdat': 'สร้างเมื่อ {}', 'history.anonymous': 'ผู้เยี่ยมชมไม่ระบุชื่อ',
    'history.error': 'ข้อผิดพลาด: {}'
  }
});

function createHistoryView(token) {
  var $ = function (id) { return document.getElementById(id); };
  var cursor = null, filters = {}, busy = false, agents = {};

  function labelled(key, input) {
    var label = el('label', null);
    label.appendChild(el('span', null, tr(key))).dataset.i18n = key;
    label.appendChild(input);
    return label;
  }

  function input(id, type, max) {
    var i = el('input');
    i.id = id;
    i.type = type;
    if (max) i.maxLength = max;
    return i;
  }

  function option(select, value, key, text) {
    var o = select.appendChild(el('option', null, key ? tr(key) : text));
    o.value = value;
    if (key) o.dataset.i18n = key;
    return o;
  }

  var button = el('button', null, tr('history.button'));
  button.id = 'history-toggle';
  button.type = 'button';
  button.hidden = true;
  $('logout').before(button);
  var section = el('section', 'audit history');
  section.id = 'history';
  section.setAttribute('aria-labelledby', 'history-title');
  section.hidden = true;
  $('app').appendChild(section);

  var title = section.appendChild(el('h2', null, tr('history.title')));
  title.id = 'history-title';
  title.dataset.i18n = 'history.title';
  var form = section.appendChild(el('form', 'audit-filters'));
  form.id = 'history-filters';
  var status = el('select');
  status.id = 'history-status-filter';
  option(status, '', 'history.any');
  option(status, 'open', 'history.open');
  option(status, 'closed', 'history.closed');
  var agent = el('select');
  agent.id = 'history-agent';
  option(agent, '', 'history.any');
  [labelled('history.visitor', input('history-visitor', 'text', 320)),
   labelled('history.tag', input('history-tag', 'text', 40)),
   labelled('history.status', status), labelled('history.agent', agent),
   labelled('history.from', input('history-from', 'date')),
   labelled('history.to', input('history-to', 'date'))].forEach(function (n) { form.appendChild(n); });
  var submit = form.appendChild(el('button', null, tr('history.search')));
  submit.type = 'submit';
  submit.dataset.i18n = 'history.search';

  var results = section.appendChild(el('div'));
  results.id = 'history-results';
  var table = results.appendChild(el('table'));
  var head = table.appendChild(el('thead')).appendChild(el('tr'));
  ['history.col.created', 'history.col.visitor', 'history.col.mode', 'history.col.tags',
   'history.col.last', ''].forEach(function (k) {
    var th = head.appendChild(el('th', null, k ? tr(k) : ''));
    th.scope = 'col';
    if (k) th.dataset.i18n = k;
  });
  var rows = table.appendChild(el('tbody'));
  rows.id = 'history-rows';
  var statusLine = results.appendChild(el('p', 'sub'));
  statusLine.id = 'history-status';
  statusLine.setAttribute('role', 'status');
  var more = results.appendChild(el('button', null, tr('history.more')));
  more.id = 'history-more';
  more.type = 'button';
  more.hidden = true;
  more.dataset.i18n = 'history.more';

  var detail = section.appendChild(el('div', 'history-timeline'));
  detail.id = 'history-timeline';
  detail.hidden = true;

  function when(ms) { return ms ? new Date(ms).toLocaleString(consoleLang.current) : ''; }

  function visitorName(v) {
    v = v || {};
    return v.name || v.email || tr('history.anonymous');
  }

  function row(c) {
    var r = el('tr');
    r.dataset.id = c.id;
    [when(c.created_at), visitorName(c.visitor), c.mode, (c.tags || []).join(', '),
     c.preview || ''].forEach(function (text) { r.appendChild(el('td', null, text)); });
    var open = el('button', null, tr('history.view'));
    open.type = 'button';
    open.setAttribute('aria-label', tr('history.view') + ': ' + visitorName(c.visitor) + ' ' + when(c.created_at));
    open.addEventListener('click', function () { openTimeline(c.id); });
    r.appendChild(el('td')).appendChild(open);
    return r;
  }

  function load(reset) {
    if (busy) return Promise.resolve();
    busy = true;
    var q = new URLSearchParams(filters);
    q.set('limit', '25');
    if (!reset && cursor) q.set('cursor', cursor);
    statusLine.textContent = tr('history.loading');
    return requestJSON('GET', '/v1/conversations?' + q.toString(), token()).then(function (j) {
      if (reset) rows.replaceChildren();
      (j.conversations || []).forEach(function (c) { rows.appendChild(row(c)); });
      cursor = j.next_cursor || null;
      more.hidden = !cursor;
      var n = rows.children.length;
      statusLine.textContent = n ? tr('history.count', n) : tr('history.none');
    }, function (err) {
      statusLine.textContent = tr('history.error', err.message);
    }).then(function () { busy = false; });
  }

  // the agent filter lists the team when the role may read it (owners, admins)
  function loadAgents() {
    requestJSON('GET', '/v1/users?limit=200', token()).then(function (j) {
      (j.items || []).forEach(function (u) {
        if (u.role === 'viewer' || agents[u.user_id]) return;
        agents[u.user_id] = u.name || u.email;
        option(agent, u.user_id, null, u.name || u.email);
      });
    }, function () {});
  }

  function eventLine(e) {
    var li = el('li', 'event ' + e.t + ' ' + e.author.role);
    var who = e.author.name || e.author.role;
    var head = li.appendChild(el('div', 'meta'));
    head.appendChild(el('span', 'who', who));
    head.appendChild(el('span', 'when', ' · ' + when(e.ts)));
    if (e.t === 'note') head.appendChild(el('span', 'tag', ' · ' + tr('history.note')));
    if (e.mode) {
      var key = (e.mode === 'queued' || e.mode === 'agent') ? 'history.handoff' : 'history.mode';
      head.appendChild(el('strong', 'handoff', ' · ' + tr(key, e.mode)));
    }
    li.appendChild(el('p', 'text', e.text));
    return li;
  }

  function openTimeline(id) {
    statusLine.textContent = tr('history.loading');
    return requestJSON('GET', '/v1/conversations/' + encodeURIComponent(id) + '/timeline?limit=1000',
                       token()).then(function (t) {
      var c = t.conversation;
      detail.replaceChildren();
      var back = detail.appendChild(el('button', null, tr('history.close')));
      back.type = 'button';
      back.id = 'history-back';
      back.addEventListener('click', closeTimeline);
      var h = detail.appendChild(el('h3', null, tr('history.timeline') + ' — ' + visitorName(c.visitor)));
      h.id = 'history-timeline-title';
      h.tabIndex = -1;
      var facts = detail.appendChild(el('ul', 'facts'));
      [tr('history.mode', c.mode), tr('history.createdat', when(c.created_at)),
       c.closed_at ? tr('history.closedat', when(c.closed_at)) : null,
       c.visitor && c.visitor.email ? c.visitor.email : null,
       (c.tags || []).length ? tr('history.tag') + ': ' + c.tags.join(', ') : null,
       c.csat ? tr('history.csat', c.csat.score) + (c.csat.comment ? ' — ' + c.csat.comment : '')
              : tr('history.nocsat')].forEach(function (text) {
        if (text) facts.appendChild(el('li', null, text));
      });
      var log = detail.appendChild(el('ol', 'events'));
      log.id = 'history-events';
      log.setAttribute('aria-label', tr('history.timeline'));
      (t.events || []).forEach(function (e) { log.appendChild(eventLine(e)); });
      results.hidden = true;
      form.hidden = true;
      detail.hidden = false;
      statusLine.textContent = '';
      h.focus();
    }, function (err) { statusLine.textContent = tr('history.error', err.message); });
  }

  function closeTimeline() {
    detail.hidden = true;
    results.hidden = false;
    form.hidden = false;
    var first = rows.querySelector('button');
    if (first) first.focus();
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    filters = {};
    [['visitor', 'history-visitor'], ['tag', 'history-tag'], ['status', 'history-status-filter'],
     ['agent', 'history-agent'], ['from', 'history-from'], ['to', 'history-to']].forEach(function (p) {
      var v = $(p[1]).value.trim();
      if (v) filters[p[0]] = v;
    });
    cursor = null;
    closeTimeline();
    load(true);
  });
  more.addEventListener('click', function () { load(false); });
  onLocaleChange(function () { translatePage(section); button.textContent = tr(section.hidden ? 'history.button' : 'history.back'); });

  function show(on) {
    if (on) {
      // one page at a time: the desk and any other page step aside
      document.querySelectorAll('#app > section, #desk-lists').forEach(function (s) {
        if (s !== section) s.hidden = true;
      });
      loadAgents();
      translatePage(section);
      cursor = null;
      closeTimeline();
      load(true);
    } else {
      $('desk-lists').hidden = false;
      $('desk-convo').hidden = false;
    }
    section.hidden = !on;
    button.textContent = tr(on ? 'history.back' : 'history.button');
  }

  button.addEventListener('click', function () { show(section.hidden); });

  return {
    allow: function (on) {
      button.hidden = !on;
      if (!on && !section.hidden) show(false);
    },
    show: show,
    shown: function () { return !section.hidden; },
    open: openTimeline
  };
}
