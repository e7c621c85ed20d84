// The visitor's privacy menu and the org's notice (docs/widget.md): their own data
// through /v1/visitor/* with their token as bearer (the server allows these paths from
// any origin), and the notice shown before the first message when the org requires one.
function createPrivacy(cfg, t, store, ui, reset, send) {
  var d = store.data, notice = cfg.notice, waiting = [];

  function button(parent, key, fn) {
    var b = parent.appendChild(h('button', 'btn', t(key)));
    b.type = 'button';
    b.addEventListener('click', fn);
    return b;
  }

  // one call to /v1/visitor PATH; `then` runs on success, then the visitor is told `key`
  function act(method, path, body, then, key) {
    // a new visitor has a token from the first welcome on (opening the panel connects)
    if (!d.token) return waiting.push(function () { act(method, path, body, then, key); });
    fetch(cfg.http + '/v1/visitor' + path, {
      method: method,
      headers: { authorization: 'Bearer ' + d.token, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : null
    }).then(function (r) {
      if (!r.ok) throw r;
      return then(r);
    }).then(function () {
      store.save();
      refresh();
      if (key) ui.notice(t(key));
    }, function () { ui.notice(t('error')); });
  }

  var toggle = ui.head.insertBefore(h('button', 'x'), ui.closer);
  toggle.type = 'button';
  toggle.setAttribute('aria-label', t('privacy'));
  toggle.setAttribute('aria-expanded', 'false');
  toggle.appendChild(svgIcon('M12 2l8 3v6c0 5-3.5 9.5-8 11-4.5-1.5-8-6-8-11V5z'));
  var menu = ui.panel.insertBefore(h('div', 'extra priv'), ui.composer);
  menu.hidden = true;
  toggle.addEventListener('click', function () {
    menu.hidden = !menu.hidden;
    toggle.setAttribute('aria-expanded', !menu.hidden);
    if (!menu.hidden) menu.firstChild.focus();
  });

  button(menu, 'pExport', function () {
    act('GET', '/export?format=json', 0, function (r) {
      return r.blob().then(function (b) {
        var a = h('a');
        a.href = URL.createObjectURL(b);
        a.download = 'my-data.json';
        a.click();
        setTimeout(URL.revokeObjectURL, 5000, a.href);
      });
    }, 'pDone');
  });
  var form = h('form');
  button(menu, 'pEdit', function () {
    form.hidden = false;
    form.firstChild.focus();
  });
  var stop = button(menu, 'pStop', function () {
    act('PUT', '/processing', { restricted: true }, function () { d.restricted = 1; }, 'pStopped');
  });
  // giving and withdrawing consent are one call each (issue 18: as easy as giving)
  function consent(yes) {
    act('POST', '/consent', { notice_version: notice.version, granted: yes }, function () {
      d.consent = yes && notice.version;
      if (yes) setTimeout(function () { ui.input.focus(); });
    }, !yes && 'pDone');
  }
  var withdraw = button(menu, 'pWithdraw', function () { consent(false); });
  var erase = button(menu, 'pErase', function () {
    erase.hidden = !(sure.hidden = false);
    sure.lastChild.focus();
  });

  // correct my details: the new values also replace what identify resends on reconnect
  ['name', 'email'].forEach(function (k) {
    var input = h('input');
    input.name = k;
    input.maxLength = 200;
    input.value = (d.who && d.who[k]) || '';
    form.appendChild(h('label', null, t(k))).appendChild(input);
  });
  form.appendChild(h('button', 'btn', t('save')));
  menu.appendChild(form);

  // the transcript by email (a transcript frame): to the address typed, else the server
  // uses the one left for follow-up and says error when there is none
  var mail = menu.appendChild(h('form'));
  var to = h('input');
  to.type = 'email';
  to.name = 'to';
  to.maxLength = 254;
  to.value = (d.who && d.who.email) || '';
  mail.appendChild(h('label', null, t('email'))).appendChild(to);
  mail.appendChild(h('button', 'btn', t('pMail')));
  mail.addEventListener('submit', function (e) {
    e.preventDefault();
    if (!send(to.value.trim() ? { t: 'transcript', email: to.value.trim() } : { t: 'transcript' })) ui.notice(t('error'));
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var body = {};
    form.querySelectorAll('input').forEach(function (f) { if (f.value.trim()) body[f.name] = f.value.trim(); });
    act('PATCH', '', body, function () { d.who = Object.assign({ name: '', email: '' }, d.who, body); }, 'pDone');
  });

  // erasing asks once more; afterwards the widget forgets the visitor and starts fresh
  var sure = menu.appendChild(h('div'));
  sure.appendChild(h('p', null, t('pSure')));
  button(sure, 'pYes', function () { act('POST', '/erase', 0, reset, 'pDone'); });
  button(sure, 'cancel', refresh);

  var gate = notice && ui.panel.insertBefore(h('div', 'extra'), ui.composer);
  // only agreeing is recorded: someone who does not agree leaves nothing behind. A long
  // notice scrolls, so it takes focus for keyboard users
  if (gate) {
    gate.appendChild(h('p', 'notice', notice.text)).tabIndex = 0;
    button(gate, 'accept', function () { consent(true); });
  }

  function blocked() { return !!gate && d.consent !== notice.version; }

  // what the menu and the composer offer follows the stored state
  function refresh() {
    var ask = blocked();
    if (gate) gate.hidden = !ask;
    ui.input.disabled = ui.send.disabled = ask;
    withdraw.hidden = !gate || ask;
    stop.hidden = !!d.restricted;
    form.hidden = sure.hidden = true;
    erase.hidden = false;
  }
  refresh();

  return {
    refresh: refresh,
    blocked: blocked,
    token: function () { if (d.token) waiting.splice(0).forEach(function (fn) { fn(); }); }
  };
}
