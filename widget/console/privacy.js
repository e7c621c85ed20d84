// The Privacy page (owners and admins; the server refuses anyone else): find a visitor by id
// or by the address they gave, then export, rectify, restrict, erase or mark them a
// reported minor; the register of rights requests with days left; for owners, the org's
// export, the account's termination and their own account.
addStrings({
  en: {
    'privacy.button': 'Privacy', 'privacy.back': 'Conversations', 'privacy.title': 'Privacy',
    'privacy.find': 'Find a visitor', 'privacy.lookup': 'Visitor id or email address',
    'privacy.search': 'Find', 'privacy.none': 'No visitor found.',
    'privacy.col.name': 'Name', 'privacy.col.email': 'Email', 'privacy.col.convs': 'Conversations',
    'privacy.col.state': 'State', 'privacy.manage': 'Manage', 'privacy.manage.of': 'Manage {}',
    'privacy.state.ok': 'active', 'privacy.state.restricted': 'restricted (people only)',
    'privacy.state.erased': 'erased', 'privacy.visitor': 'Visitor {}',
    'privacy.export.json': 'Export JSON', 'privacy.export.csv': 'Export CSV',
    'privacy.name': 'Name', 'privacy.email': 'Email', 'privacy.rectify': 'Save details',
    'privacy.objection': 'Objection reason (optional)', 'privacy.restrict': 'Restrict processing',
    'privacy.lift': 'Lift the restriction', 'privacy.erase': 'Erase this visitor',
    'privacy.minor': 'Mark as a reported minor (erases)', 'privacy.again': 'Click again to confirm',
    'privacy.done': 'Done.', 'privacy.error': 'Error: {}',
    'privacy.requests': 'Rights requests', 'privacy.status': 'Status', 'privacy.all': 'all',
    'privacy.open': 'open', 'privacy.done.s': 'done', 'privacy.refused': 'refused',
    'privacy.col.kind': 'Kind', 'privacy.col.subject': 'Subject', 'privacy.col.received': 'Received',
    'privacy.col.due': 'Due', 'privacy.col.left': 'Days left', 'privacy.col.status': 'Status',
    'privacy.complete': 'Mark done', 'privacy.norequests': 'No requests.',
    'privacy.add': 'Enter a request received by email', 'privacy.kind': 'Kind',
    'privacy.subject.email': 'Requester email', 'privacy.subject.id': 'Visitor id (optional)',
    'privacy.received': 'Received on', 'privacy.verified': 'I verified the requester\u2019s identity',
    'privacy.save': 'Add request', 'privacy.added': 'Request added: due {}.',
    'privacy.account': 'Account', 'privacy.org.json': 'Export the organisation (JSON)',
    'privacy.org.csv': 'Export the organisation (CSV)', 'privacy.me.json': 'Export my account',
    'privacy.me.delete': 'Delete my account', 'privacy.terminate': 'Terminate the account',
    'privacy.terminate.help': 'The service stops at once; the export stays open 30 days, then everything is deleted by day 60. Type the organisation\u2019s name to confirm.',
    'privacy.terminate.name': 'Organisation name', 'privacy.terminated': 'Terminated. Export open until {}.',
    'policy.change': 'Our privacy policy changes on {}.', 'policy.dismiss': 'Dismiss'
  },
  th: {
    'privacy.button': 'ความเป็นส่วนตัว', 'privacy.back': 'บทสนทนา', 'privacy.title': 'ความเป็นส่วนตัว',
    'privacy.find': 'ค้นหาผู้เยี่ยมชม', 'privacy.lookup': 'รหัสผู้เยี่ยมชมหรืออีเมล',
    'privacy.search': 'ค้นหา', 'privacy.none': 'ไม่พบผู้เยี่ยมชม',
    'privacy.col.name': 'ชื่อ', 'privacy.col.email': 'อีเมล', 'privacy.col.convs': 'บทสนทนา',
    'privacy.col.state': 'สถานะ', 'privacy.manage': 'จัดการ', 'privacy.manage.of': 'จัดการ {}',
    'privacy.state.ok': 'ปกติ', 'privacy.state.restricted': 'จำกัดการประมวลผล (เจ้าหน้าที่เท่านั้น)',
    'privacy.state.erased': 'ลบแล้ว', 'privacy.visitor': 'ผู้เยี่ยมชม {}',
    'privacy.export.json': 'ส่งออก JSON', 'privacy.export.csv': 'ส่งออก CSV',
    'privacy.name': 'ชื่อ', 'privacy.email': 'อีเมล', 'privacy.rectify': 'บันทึกข้อมูล',
    'privacy.objection': 'เหตุผลในการคัดค้าน (ไม่บังคับ)', 'privacy.restrict': 'จำกัดการประมวลผล',
    'privacy.lift': 'ยกเลิกการจำกัด', 'privacy.erase': 'ลบผู้เยี่ยมชมนี้',
    'privacy.minor': 'ระบุว่าเป็นผู้เยาว์ (ลบข้อมูล)', 'privacy.again': 'คลิกอีกครั้งเพื่อยืนยัน',
    'privacy.done': 'เรียบร้อยแล้ว', 'privacy.error': 'ข้อผิดพลาด: {}',
    'privacy.requests': 'คำขอใช้สิทธิ', 'privacy.status': 'สถานะ', 'privacy.all': 'ทั้งหมด',
    'privacy.open': 'เปิดอยู่', 'privacy.done.s': 'เสร็จแล้ว', 'privacy.refused': 'ปฏิเสธ',
    'privacy.col.kind': 'ประเภท', 'privacy.col.subject': 'เจ้าของข้อมูล', 'privacy.col.received': 'วันที่ได้รับ',
    'privacy.col.due': 'กำหนดเสร็จ', 'privacy.col.left': 'เหลือ (วัน)', 'privacy.col.status': 'สถานะ',
    'privacy.complete': 'ทำเสร็จแล้ว', 'privacy.norequests': 'ไม่มีคำขอ',
    'privacy.add': 'บันทึกคำขอที่ได้รับทางอีเมล', 'privacy.kind': 'ประเภท',
    'privacy.subject.email': 'อีเมลผู้ขอ', 'privacy.subject.id': 'รหัสผู้เยี่ยมชม (ไม่บังคับ)',
    'privacy.received': 'วันที่ได้รับ', 'privacy.verified': 'ฉันได้ตรวจสอบตัวตนของผู้ขอแล้ว',
    'privacy.save': 'เพิ่มคำขอ', 'privacy.added': 'เพิ่มคำขอแล้ว กำหนดเสร็จ {}',
    'privacy.account': 'บัญชี', 'privacy.org.json': 'ส่งออกข้อมูลองค์กร (JSON)',
    'privacy.org.csv': 'ส่งออกข้อมูลองค์กร (CSV)', 'privacy.me.json': 'ส่งออกบัญชีของฉัน',
    'privacy.me.delete': 'ลบบัญชีของฉัน', 'privacy.terminate': 'ยกเลิกบัญชีองค์กร',
    'privacy.terminate.help': 'บริการจะหยุดทันที ส่งออกข้อมูลได้อีก 30 วัน และข้อมูลทั้งหมดจะถูกลบภายในวันที่ 60 พิมพ์ชื่อองค์กรเพื่อยืนยัน',
    'privacy.terminate.name': 'ชื่อองค์กร', 'privacy.terminated': 'ยกเลิกแล้ว ส่งออกข้อมูลได้ถึง {}',
    'policy.change': 'นโยบายความเป็นส่วนตัวของเราจะเปลี่ยนในวันที่ {}', 'policy.dismiss': 'ปิด'
  }
});

var REQUEST_KINDS = ['access', 'rectification', 'erasure', 'restriction', 'portability', 'objection', 'withdrawal'];

function createPrivacyView(token, role) {
  var $ = function (id) { return document.getElementById(id); };
  var current = null;

  function i18n(node, key) { node.dataset.i18n = key; node.textContent = tr(key); return node; }
  function button(parent, key, fn, id) {
    var b = parent.appendChild(i18n(el('button'), key));
    b.type = 'button';
    if (id) b.id = id;
    b.addEventListener('click', function () { fn(b); });
    return b;
  }
  // destructive actions take two clicks, no blocking dialog (like the team page)
  function twice(b, fn) {
    if (!b.dataset.armed) {
      b.dataset.armed = '1';
      b.textContent = tr('privacy.again');
      return;
    }
    delete b.dataset.armed;
    b.textContent = tr(b.dataset.i18n);
    fn();
  }
  function field(parent, key, id, type) {
    var label = parent.appendChild(el('label'));
    label.appendChild(i18n(el('span'), key));
    var input = label.appendChild(el(type === 'select' ? 'select' : 'input'));
    if (type !== 'select') input.type = type || 'text';
    input.id = id;
    return input;
  }
  function status(node) {
    return function (text) { node.textContent = text; };
  }
  function failed(say) { return function (err) { say(tr('privacy.error', err.message)); }; }
  function day(iso) { return iso ? String(iso).slice(0, 10) : '—'; }

  // a download with the token in the header (never in a URL), saved under `name`
  function download(path, name) {
    return fetch(path, { headers: { authorization: 'Bearer ' + token(), 'x-clienta-csrf': '1' }, credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        if (!r.ok) return r.json().catch(function () { return {}; }).then(function (j) { throw new Error((j.error && j.error.message) || 'HTTP ' + r.status); });
        return r.blob();
      }).then(function (blob) {
        var a = document.body.appendChild(el('a'));
        a.href = URL.createObjectURL(blob);
        a.download = name;
        a.click();
        a.remove();
        setTimeout(URL.revokeObjectURL, 10000, a.href);
      });
  }

  var toggle = i18n(el('button'), 'privacy.button');
  toggle.id = 'privacy-toggle';
  toggle.type = 'button';
  toggle.hidden = true;
  $('logout').before(toggle);
  var section = el('section', 'audit privacy');
  section.id = 'privacy';
  section.setAttribute('aria-labelledby', 'privacy-title');
  section.hidden = true;
  $('app').appendChild(section);
  i18n(section.appendChild(el('h2')), 'privacy.title').id = 'privacy-title';

  // ---- a visitor -----------------------------------------------------------------------
  i18n(section.appendChild(el('h3')), 'privacy.find');
  var find = section.appendChild(el('form', 'audit-filters'));
  find.id = 'privacy-find';
  var lookup = field(find, 'privacy.lookup', 'privacy-lookup');
  lookup.maxLength = 320;
  lookup.required = true;
  i18n(find.appendChild(el('button')), 'privacy.search').type = 'submit';
  var found = section.appendChild(el('table'));
  found.id = 'privacy-visitors';
  found.hidden = true;
  var foundHead = found.appendChild(el('thead')).appendChild(el('tr'));
  ['privacy.col.name', 'privacy.col.email', 'privacy.col.convs', 'privacy.col.state', null].forEach(function (k) {
    var th = foundHead.appendChild(el('th'));
    th.scope = 'col';
    if (k) i18n(th, k);
  });
  var foundRows = found.appendChild(el('tbody'));
  var findStatus = section.appendChild(el('p', 'sub'));
  findStatus.id = 'privacy-find-status';
  findStatus.setAttribute('role', 'status');
  var sayFind = status(findStatus);

  var panel = section.appendChild(el('div', 'privacy-visitor'));
  panel.id = 'privacy-visitor';
  panel.hidden = true;
  var panelTitle = panel.appendChild(el('h3'));
  panelTitle.id = 'privacy-visitor-title';
  panelTitle.tabIndex = -1;
  var exports = panel.appendChild(el('div', 'audit-filters'));
  button(exports, 'privacy.export.json', function () {
    download('/v1/visitors/' + current.visitor_id + '/export?format=json', 'visitor-' + current.visitor_id + '.json').then(function () { sayPanel(tr('privacy.done')); }, failed(sayPanel));
  }, 'privacy-export-json');
  button(exports, 'privacy.export.csv', function () {
    download('/v1/visitors/' + current.visitor_id + '/export?format=csv', 'visitor-' + current.visitor_id + '.zip').then(function () { sayPanel(tr('privacy.done')); }, failed(sayPanel));
  }, 'privacy-export-csv');
  var rectify = panel.appendChild(el('form', 'audit-filters'));
  rectify.id = 'privacy-rectify';
  var name = field(rectify, 'privacy.name', 'privacy-name');
  name.maxLength = 200;
  var email = field(rectify, 'privacy.email', 'privacy-email', 'email');
  email.maxLength = 320;
  i18n(rectify.appendChild(el('button')), 'privacy.rectify').type = 'submit';
  var processing = panel.appendChild(el('div', 'audit-filters'));
  var objection = field(processing, 'privacy.objection', 'privacy-objection');
  objection.maxLength = 1000;
  var restrict = button(processing, 'privacy.restrict', function () {
    var body = { restricted: !current.restricted };
    if (body.restricted && objection.value.trim()) body.objection = objection.value.trim();
    act('PUT', '/processing', body);
  }, 'privacy-restrict');
  var danger = panel.appendChild(el('div', 'audit-filters'));
  button(danger, 'privacy.erase', function (b) { twice(b, function () { act('POST', '/erase'); }); }, 'privacy-erase');
  button(danger, 'privacy.minor', function (b) { twice(b, function () { act('POST', '/minor'); }); }, 'privacy-minor');
  var panelStatus = panel.appendChild(el('p', 'sub'));
  panelStatus.id = 'privacy-visitor-status';
  panelStatus.setAttribute('role', 'status');
  var sayPanel = status(panelStatus);

  function stateOf(v) {
    return tr(v.erased_at ? 'privacy.state.erased' : v.restricted ? 'privacy.state.restricted' : 'privacy.state.ok');
  }

  // after each change the visitor is read again, so what is shown is what is stored
  function act(method, path, body) {
    requestJSON(method, '/v1/visitors/' + current.visitor_id + path, token(), body).then(function () {
      return search('visitor_id', current.visitor_id);
    }).then(function () { sayPanel(tr('privacy.done')); }, failed(sayPanel));
  }
  rectify.addEventListener('submit', function (e) {
    e.preventDefault();
    var body = {};
    if (name.value.trim()) body.name = name.value.trim();
    if (email.value.trim()) body.email = email.value.trim();
    if (body.name || body.email) act('PATCH', '', body);
  });

  function manage(v) {
    current = v;
    panel.hidden = false;
    panelTitle.textContent = tr('privacy.visitor', v.name || v.email || v.visitor_id);
    name.value = v.name || '';
    email.value = v.email || '';
    i18n(restrict, v.restricted ? 'privacy.lift' : 'privacy.restrict');
    panel.querySelectorAll('input, button').forEach(function (n) { n.disabled = !!v.erased_at; });
  }

  function search(kind, value) {
    var q = new URLSearchParams();
    q.set(kind, value);
    return requestJSON('GET', '/v1/visitors?' + q.toString(), token()).then(function (j) {
      foundRows.replaceChildren();
      found.hidden = !j.items.length;
      sayFind(j.items.length ? '' : tr('privacy.none'));
      j.items.forEach(function (v) {
        var row = foundRows.appendChild(el('tr'));
        row.dataset.id = v.visitor_id;
        [v.name || '—', v.email || '—', String(v.conversations), stateOf(v)].forEach(function (t) { row.appendChild(el('td', null, t)); });
        var go = row.appendChild(el('td')).appendChild(i18n(el('button'), 'privacy.manage'));
        go.type = 'button';
        go.setAttribute('aria-label', tr('privacy.manage.of', v.name || v.email || v.visitor_id));
        go.addEventListener('click', function () { manage(v); panelTitle.focus(); });
        if (current && current.visitor_id === v.visitor_id) manage(v);
      });
      if (!j.items.length) panel.hidden = true;
    });
  }
  find.addEventListener('submit', function (e) {
    e.preventDefault();
    var v = lookup.value.trim();
    panel.hidden = true;
    current = null;
    search(v.indexOf('@') >= 0 ? 'email' : 'visitor_id', v).catch(failed(sayFind));
  });

  // ---- the requests register -------------------------------------------------------------
  i18n(section.appendChild(el('h3')), 'privacy.requests');
  var filter = section.appendChild(el('form', 'audit-filters'));
  var which = field(filter, 'privacy.status', 'privacy-status', 'select');
  [['open', 'privacy.open'], ['done', 'privacy.done.s'], ['refused', 'privacy.refused'], ['', 'privacy.all']].forEach(function (s) {
    i18n(which.appendChild(el('option')), s[1]).value = s[0];
  });
  var reqs = section.appendChild(el('table'));
  reqs.id = 'privacy-requests';
  var reqHead = reqs.appendChild(el('thead')).appendChild(el('tr'));
  ['privacy.col.kind', 'privacy.col.subject', 'privacy.col.received', 'privacy.col.due', 'privacy.col.left', 'privacy.col.status', null].forEach(function (k) {
    var th = reqHead.appendChild(el('th'));
    th.scope = 'col';
    if (k) i18n(th, k);
  });
  var reqRows = reqs.appendChild(el('tbody'));
  var reqStatus = section.appendChild(el('p', 'sub'));
  reqStatus.id = 'privacy-requests-status';
  reqStatus.setAttribute('role', 'status');
  var sayReq = status(reqStatus);

  function loadRequests() {
    var q = which.value ? '?status=' + which.value : '';
    return requestJSON('GET', '/v1/privacy/requests' + q, token()).then(function (j) {
      reqRows.replaceChildren();
      if (!j.items.length) sayReq(tr('privacy.norequests'));
      j.items.forEach(function (r) {
        var row = reqRows.appendChild(el('tr'));
        row.dataset.id = r.request_id;
        var left = r.days_left == null ? '—' : String(r.days_left);
        [r.kind, r.subject.email || r.subject.visitor_id || '—', day(r.received_at), day(r.due_at), left, r.status].forEach(function (t) { row.appendChild(el('td', null, t)); });
        if (r.days_left != null && r.days_left < 7) row.classList.add('due');
        var cell = row.appendChild(el('td'));
        if (r.status !== 'open') return;
        button(cell, 'privacy.complete', function () {
          requestJSON('PATCH', '/v1/privacy/requests/' + r.request_id, token(), { status: 'done' }).then(function () {
            return loadRequests();
          }).then(function () { sayReq(tr('privacy.done')); }, failed(sayReq));
        });
      });
    }, failed(sayReq));
  }
  which.addEventListener('change', loadRequests);
  filter.addEventListener('submit', function (e) { e.preventDefault(); loadRequests(); });

  i18n(section.appendChild(el('h3')), 'privacy.add');
  var add = section.appendChild(el('form', 'audit-filters'));
  add.id = 'privacy-add';
  var kind = field(add, 'privacy.kind', 'privacy-kind', 'select');
  REQUEST_KINDS.forEach(function (k) { kind.appendChild(el('option', null, k)).value = k; });
  var who = field(add, 'privacy.subject.email', 'privacy-subject-email', 'email');
  who.maxLength = 320;
  who.required = true;
  var whoId = field(add, 'privacy.subject.id', 'privacy-subject-id');
  whoId.maxLength = 64;
  var received = field(add, 'privacy.received', 'privacy-received', 'date');
  var verified = field(add, 'privacy.verified', 'privacy-verified', 'checkbox');
  verified.required = true;
  verified.parentNode.classList.add('check');
  i18n(add.appendChild(el('button')), 'privacy.save').type = 'submit';
  add.addEventListener('submit', function (e) {
    e.preventDefault();
    var body = { kind: kind.value, email: who.value.trim() };
    if (whoId.value.trim()) body.visitor_id = whoId.value.trim();
    // the day it arrived, at noon UTC: a date alone has no offset
    if (received.value) body.received_at = received.value + 'T12:00:00+00:00';
    requestJSON('POST', '/v1/privacy/requests', token(), body).then(function (r) {
      add.reset();
      which.value = 'open';
      return loadRequests().then(function () { sayReq(tr('privacy.added', day(r.due_at))); });
    }, failed(sayReq));
  });

  // ---- the account (owners) ---------------------------------------------------------------
  var account = section.appendChild(el('div'));
  account.id = 'privacy-account';
  i18n(account.appendChild(el('h3')), 'privacy.account');
  var accountStatus = el('p', 'sub');
  accountStatus.id = 'privacy-account-status';
  accountStatus.setAttribute('role', 'status');
  var sayAccount = status(accountStatus);
  var own = account.appendChild(el('div', 'audit-filters'));
  function exporter(key, path, file, id) {
    button(own, key, function () { download(path, file).then(function () { sayAccount(tr('privacy.done')); }, failed(sayAccount)); }, id);
  }
  exporter('privacy.org.json', '/v1/org/export?format=json', 'organisation.json', 'privacy-org-json');
  exporter('privacy.org.csv', '/v1/org/export?format=csv', 'organisation.zip', 'privacy-org-csv');
  exporter('privacy.me.json', '/v1/users/me/export?format=json', 'my-account.json', 'privacy-me-json');
  button(own, 'privacy.me.delete', function (b) {
    twice(b, function () {
      requestJSON('DELETE', '/v1/users/me', token()).then(function () { $('logout').click(); }, failed(sayAccount));
    });
  }, 'privacy-me-delete');
  var end = account.appendChild(el('form', 'audit-filters'));
  end.id = 'privacy-terminate';
  i18n(end.appendChild(el('p', 'sub')), 'privacy.terminate.help').id = 'privacy-terminate-help';
  var confirmName = field(end, 'privacy.terminate.name', 'privacy-terminate-name');
  confirmName.maxLength = 200;
  confirmName.required = true;
  confirmName.autocomplete = 'off';
  confirmName.setAttribute('aria-describedby', 'privacy-terminate-help');
  i18n(end.appendChild(el('button', 'danger')), 'privacy.terminate').type = 'submit';
  account.appendChild(accountStatus);
  end.addEventListener('submit', function (e) {
    e.preventDefault();
    requestJSON('POST', '/v1/org/terminate', token(), { confirm: confirmName.value }).then(function (j) {
      sayAccount(tr('privacy.terminated', day(j.export_until)));
    }, failed(sayAccount));
  });

  onLocaleChange(function () {
    translatePage(section);
    toggle.textContent = tr(section.hidden ? 'privacy.button' : 'privacy.back');
  });

  function show(on) {
    if (on) {
      document.querySelectorAll('#app > section, #desk-lists').forEach(function (s) {
        if (s !== section) s.hidden = true;
      });
      account.hidden = role() !== 'owner';  // the server answers 403 to anyone else
      translatePage(section);
      loadRequests();
    } else {
      $('desk-lists').hidden = false;
      $('desk-convo').hidden = false;
    }
    section.hidden = !on;
    toggle.textContent = tr(on ? 'privacy.back' : 'privacy.button');
  }
  toggle.addEventListener('click', function () { show(section.hidden); });

  return {
    allow: function (on) {
      toggle.hidden = !on;
      if (!on && !section.hidden) show(false);
    },
    show: show,
    shown: function () { return !section.hidden; }
  };
}
