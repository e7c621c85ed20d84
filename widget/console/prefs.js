// Notification and privacy settings: the Settings page's "Notifications" (GET/PATCH
// /v1/org/notifications) and "Privacy" (GET/PATCH /v1/org/privacy) parts for owners and
// admins, and "My notifications" (GET/PATCH /v1/users/me/notifications) for every user.
addStrings({
  en: {
    'prefs.button': 'My notifications', 'prefs.mine': 'My notifications',
    'prefs.offline': 'Mail me when a visitor waits while I am offline',
    'prefs.security': 'Mail me security alerts (other members\' sign-ins on a new device; owners)',
    'prefs.org': 'Notifications',
    'prefs.inbox': 'Inbox address for follow-up requests (blank: the owners\')',
    'prefs.inbox.on': 'Send follow-up requests to the inbox',
    'prefs.waiting': 'Alert offline agents after a visitor has waited this many seconds',
    'prefs.privacy': 'Privacy',
    'prefs.notice.on': 'Visitors must agree to a privacy notice before their first message',
    'prefs.notice.version': 'Notice version (a new version asks again)',
    'prefs.notice.text': 'Notice text',
    'prefs.retention': 'Delete closed conversations after this many days (blank: keep them)'
  },
  th: {
    'prefs.button': 'การแจ้งเตือนของฉัน', 'prefs.mine': 'การแจ้งเตือนของฉัน',
    'prefs.offline': 'ส่งอีเมลถึงฉันเมื่อมีผู้เยี่ยมชมรอขณะที่ฉันออฟไลน์',
    'prefs.security': 'ส่งการแจ้งเตือนความปลอดภัย (สมาชิกคนอื่นเข้าสู่ระบบจากอุปกรณ์ใหม่ สำหรับเจ้าของ)',
    'prefs.org': 'การแจ้งเตือน',
    'prefs.inbox': 'อีเมลกล่องรับคำขอติดต่อกลับ (เว้นว่าง: อีเมลของเจ้าของ)',
    'prefs.inbox.on': 'ส่งคำขอติดต่อกลับไปยังกล่องรับ',
    'prefs.waiting': 'แจ้งเจ้าหน้าที่ที่ออฟไลน์เมื่อผู้เยี่ยมชมรอครบกี่วินาที',
    'prefs.privacy': 'ความเป็นส่วนตัว',
    'prefs.notice.on': 'ผู้เยี่ยมชมต้องยอมรับประกาศความเป็นส่วนตัวก่อนส่งข้อความแรก',
    'prefs.notice.version': 'เวอร์ชันของประกาศ (เวอร์ชันใหม่จะถามอีกครั้ง)',
    'prefs.notice.text': 'ข้อความประกาศ',
    'prefs.retention': 'ลบบทสนทนาที่ปิดแล้วหลังจากกี่วัน (เว้นว่าง: เก็บไว้)'
  }
});

// one form: heading, fields built by the caller, Save and a status line; `load` fills it
// from GET url, Save sends PATCH url with `read()` and fills it from the answer
function prefsForm(parent, id, key, url, token, build) {
  var form = parent.appendChild(el('form', 'settings-part'));
  form.id = id;
  form.noValidate = true;
  var h = form.appendChild(el('h3', null, tr(key)));
  h.dataset.i18n = key;
  h.id = id + '-title';
  form.setAttribute('aria-labelledby', h.id);
  function input(fid, fkey, type) {
    var box = type === 'checkbox', label = el('label', box ? 'check' : null);
    var span = el('span', null, tr(fkey)), inp = el(type === 'textarea' ? 'textarea' : 'input');
    span.dataset.i18n = fkey;
    inp.id = fid;
    if (type !== 'textarea') inp.type = type;
    if (box) { label.appendChild(inp); label.appendChild(span); form.appendChild(label); return inp; }
    label.htmlFor = fid;
    label.appendChild(span);
    form.appendChild(label);
    return form.appendChild(inp);
  }
  var io = build(input);
  var row = form.appendChild(el('div', 'save-row'));
  var save = row.appendChild(el('button', null, tr('settings.save')));
  save.dataset.i18n = 'settings.save';
  save.type = 'submit';
  var status = row.appendChild(el('span', 'sub'));
  status.setAttribute('role', 'status');
  function failed(err) { status.textContent = tr('settings.error', err.message); }
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    status.textContent = '';
    requestJSON('PATCH', url, token(), io.read()).then(function (v) {
      io.fill(v);
      status.textContent = tr('settings.saved');
    }, failed);
  });
  return function load() {
    status.textContent = '';
    return requestJSON('GET', url, token()).then(io.fill, failed);
  };
}


// the Settings page's two parts (owners and admins)
function addOrgPrefs(token, settings) {
  var loads = [];
  var section = settings.extend(function () { loads.forEach(function (fn) { fn(); }); });
  loads.push(prefsForm(section, 'settings-notifications', 'prefs.org', '/v1/org/notifications', token, function (input) {
    var inbox = input('inbox-email', 'prefs.inbox', 'email'), on = input('inbox-enabled', 'prefs.inbox.on', 'checkbox');
    var wait = input('waiting-alert', 'prefs.waiting', 'number');
    inbox.maxLength = 320;
    wait.min = '1';
    wait.max = '604800';
    return {
      fill: function (v) { inbox.value = v.inbox_email || ''; on.checked = !!v.inbox_enabled; wait.value = v.waiting_alert_s == null ? '' : String(v.waiting_alert_s); },
      read: function () { return { inbox_email: inbox.value.trim() || null, inbox_enabled: on.checked, waiting_alert_s: settingsNumber(wait) }; }
    };
  }));
  loads.push(prefsForm(section, 'settings-privacy', 'prefs.privacy', '/v1/org/privacy', token, function (input) {
    var on = input('notice-required', 'prefs.notice.on', 'checkbox'), version = input('notice-version', 'prefs.notice.version', 'text');
    var text = input('notice-text', 'prefs.notice.text', 'textarea'), days = input('retention-days', 'prefs.retention', 'number');
    version.maxLength = 64;
    text.maxLength = 4000;
    text.rows = 4;
    days.min = '1';
    days.max = '3650';
    return {
      fill: function (v) {
        on.checked = !!v.notice_required;
        version.value = v.notice_version || '';
        text.value = v.notice_text || '';
        days.value = v.closed_retention_days == null ? '' : String(v.closed_retention_days);
      },
      read: function () {
        return { notice_required: on.checked, notice_version: version.value.trim() || null,
                 notice_text: text.value.trim() || null, closed_retention_days: settingsNumber(days) };
      }
    };
  }));
}

// "My notifications": a page of its own with a header button, for every signed-in user
function createMyPrefsView(token) {
  var logout = document.getElementById('logout');
  var button = logout.parentNode.insertBefore(el('button', null, tr('prefs.button')), logout);
  button.id = 'prefs-toggle';
  button.type = 'button';
  button.hidden = true;
  var section = el('section', 'audit settings');
  section.id = 'my-prefs';
  section.setAttribute('aria-label', tr('prefs.mine'));
  section.hidden = true;
  document.getElementById('app').appendChild(section);
  var load = prefsForm(section, 'prefs-mine', 'prefs.mine', '/v1/users/me/notifications', token, function (input) {
    var offline = input('pref-offline', 'prefs.offline', 'checkbox'), security = input('pref-security', 'prefs.security', 'checkbox');
    return {
      fill: function (v) { offline.checked = !!v.offline_waiting; security.checked = !!v.security_alerts; },
      read: function () { return { offline_waiting: offline.checked, security_alerts: security.checked }; }
    };
  });

  function show(on, keepDesk) {
    if (on) {
      document.querySelectorAll('#app > section, #desk-lists').forEach(function (s) { if (s !== section) s.hidden = true; });
      load();
    } else if (!keepDesk) {
      document.getElementById('desk-lists').hidden = false;
      document.getElementById('desk-convo').hidden = false;
    }
    section.hidden = !on;
    button.textContent = tr(on ? 'settings.back' : 'prefs.button');
  }
  button.addEventListener('click', function () { show(section.hidden); });
  // another page's button: that page takes the screen, this one steps aside
  button.parentNode.addEventListener('click', function (e) {
    var b = e.target.closest('button');
    if (b && b !== button && b.id !== 'logout' && !section.hidden) show(false, true);
  });
  onLocaleChange(function () {
    translatePage(section);
    section.setAttribute('aria-label', tr('prefs.mine'));
    button.textContent = tr(section.hidden ? 'prefs.button' : 'settings.back');
  });
  return {
    allow: function (on) {
      button.hidden = !on;
      if (!on && !section.hidden) show(false);
    }
  };
}
