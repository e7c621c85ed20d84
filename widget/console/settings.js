// The settings page (owners and admins; the server refuses anyone else): organisation
// name, the widget's look with a live preview of the real widget and the embed snippet,
// allowed origins, assignment, the bot's threshold, handoff keywords and limits, business
// hours with the offline message, canned replies and tags. Each part saves on its own
// (PATCH /v1/org with that part's fields). Every value goes in through textContent/value.

function createSettingsView(token, changed) {
  var $ = function (id) { return document.getElementById(id); };
  var org = null, canned = [], editing = null, previewTimer = null, extraLoads = [];
  function i18n(node, key) { node.dataset.i18n = key; node.textContent = tr(key); return node; }

  var button = el('button', null, tr('settings.button'));
  button.id = 'settings-toggle';
  button.type = 'button';
  button.hidden = true;
  $('logout').before(button);
  var section = el('section', 'audit settings');
  section.id = 'settings';
  section.setAttribute('aria-labelledby', 'settings-title');
  section.hidden = true;
  $('app').appendChild(section);
  section.appendChild(i18n(el('h2'), 'settings.title')).id = 'settings-title';

  var parts = settingsParts(section, function (form, body) { return patch(form, body); });
  var part = parts.part, field = parts.field, choice = parts.choice, saveRow = parts.saveRow;
  var lines = settingsLines, numberOrNull = settingsNumber;

  // ---- organisation, widget, origins, assignment, bot, hours ------------------------
  var orgForm = part('settings-org', 'settings.org', function () { return { name: orgName.value.trim() }; });
  var orgName = field(orgForm, 'org-name', 'settings.org.name');
  orgName.maxLength = 200;
  saveRow(orgForm);

  var widgetForm = part('settings-widget', 'settings.widget', function () { return { widget: look() }; });
  var color = field(widgetForm, 'widget-color', 'settings.color', 'input', 'color');
  var wtitle = field(widgetForm, 'widget-title', 'settings.wtitle');
  wtitle.maxLength = 80;
  var position = choice(widgetForm, 'widget-position', 'settings.position',
                        [['right', 'settings.right'], ['left', 'settings.left']]);
  var wlocale = choice(widgetForm, 'widget-locale', 'settings.locale',
                       [['', 'settings.auto'], ['en', 'lang.en'], ['th', 'lang.th']]);
  saveRow(widgetForm);
  widgetForm.appendChild(i18n(el('p', 'sub'), 'settings.preview'));
  var preview = widgetForm.appendChild(el('iframe', 'preview'));
  preview.id = 'widget-preview';
  preview.title = tr('settings.preview.frame');
  var snippet = field(widgetForm, 'widget-snippet', 'settings.snippet', 'textarea');
  snippet.readOnly = true;
  snippet.rows = 2;
  var copy = widgetForm.appendChild(i18n(el('button'), 'settings.copy'));
  copy.type = 'button';
  copy.id = 'snippet-copy';
  var copyStatus = widgetForm.appendChild(el('span', 'sub'));
  copyStatus.id = 'snippet-status';
  copyStatus.setAttribute('role', 'status');

  var originsForm = part('settings-origins', 'settings.origins', function () {
    return { allowed_origins: lines(origins.value) };
  });
  var origins = field(originsForm, 'allowed-origins', 'settings.origins', 'textarea');
  origins.rows = 3;
  origins.setAttribute('aria-describedby', 'origins-help');
  i18n(originsForm.appendChild(el('p', 'sub')), 'settings.origins.help').id = 'origins-help';
  saveRow(originsForm);

  var assignForm = part('settings-assignment', 'settings.assignment', function () {
    return { assignment: assignMode.value, agent_capacity: Number(capacity.value) };
  });
  var assignMode = choice(assignForm, 'assignment-mode', 'settings.mode',
                          [['manual', 'settings.manual'], ['auto', 'settings.autoassign']]);
  var capacity = field(assignForm, 'agent-capacity', 'settings.capacity', 'input', 'number');
  capacity.min = '1';
  capacity.max = '100';
  saveRow(assignForm);

  var botForm = part('settings-bot', 'settings.bot', function () {
    return { kb_threshold: numberOrNull(threshold),
             handoff_keywords: { en: lines(kwEn.value), th: lines(kwTh.value) },
             unresolved_turns: numberOrNull(turns), queue_wait_s: numberOrNull(wait) };
  });
  var threshold = field(botForm, 'kb-threshold', 'settings.threshold', 'input', 'number');
  threshold.min = '0';
  threshold.max = '1';
  threshold.step = '0.05';
  var kwEn = field(botForm, 'keywords-en', 'settings.kw.en', 'textarea');
  var kwTh = field(botForm, 'keywords-th', 'settings.kw.th', 'textarea');
  kwTh.lang = 'th';
  var turns = field(botForm, 'unresolved-turns', 'settings.turns', 'input', 'number');
  turns.min = '1';
  turns.max = '10';
  var wait = field(botForm, 'queue-wait', 'settings.wait', 'input', 'number');
  wait.min = '30';
  wait.max = '86400';
  saveRow(botForm);

  var hoursForm = part('settings-hours', 'settings.hours', function () {
    return { business_hours: hoursValue(), offline_message: offline.value.trim() };
  });
  var hoursOn = hoursForm.appendChild(el('label', 'check'));
  var hoursBox = hoursOn.insertBefore(el('input'), null);
  hoursBox.type = 'checkbox';
  hoursBox.id = 'hours-on';
  hoursOn.appendChild(i18n(el('span'), 'settings.hours.on'));
  var tz = field(hoursForm, 'hours-tz', 'settings.tz', 'select');
  var zones = (Intl.supportedValuesOf && Intl.supportedValuesOf('timeZone')) || ['UTC', 'Asia/Bangkok'];
  zones.forEach(function (z) { tz.appendChild(el('option', null, z)).value = z; });
  function setZone(z) {
    // the browser's list may lack the one given (e.g. UTC itself): it is added
    if (!Array.prototype.some.call(tz.options, function (o) { return o.value === z; })) tz.appendChild(el('option', null, z)).value = z;
    tz.value = z;
  }
  setZone(Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
  var table = hoursForm.appendChild(el('table', 'hours'));
  var headRow = table.appendChild(el('thead')).appendChild(el('tr'));
  [null, 'settings.open', 'settings.from', 'settings.to'].forEach(function (k) {
    var th = headRow.appendChild(el('th'));
    th.scope = 'col';
    if (k) i18n(th, k);
  });
  var dayRows = {};
  var tbody = table.appendChild(el('tbody'));
  SETTINGS_DAYS.forEach(function (d) {
    var tr_ = tbody.appendChild(el('tr'));
    var name = tr_.appendChild(i18n(el('th'), 'day.' + d));
    name.scope = 'row';
    name.id = 'hours-' + d + '-name';
    function cell(type, suffix, key) {
      var input = tr_.appendChild(el('td')).appendChild(el('input'));
      input.type = type;
      input.id = 'hours-' + d + '-' + suffix;
      input.dataset.i18nLabel = key;
      input.setAttribute('aria-label', tr(key));
      input.setAttribute('aria-describedby', name.id);
      return input;
    }
    dayRows[d] = { open: cell('checkbox', 'open', 'settings.open'), from: cell('time', 'from', 'settings.from'),
                   to: cell('time', 'to', 'settings.to') };
  });
  i18n(hoursForm.appendChild(el('p', 'sub')), 'settings.hours.help');
  var offline = field(hoursForm, 'offline-message', 'settings.offline', 'textarea');
  offline.maxLength = 500;
  offline.rows = 2;
  saveRow(hoursForm);

  // ---- canned replies and tags: their own endpoints / their own PATCH ----------------
  var cannedForm = part('settings-canned', 'settings.canned', null);
  var cannedList = cannedForm.appendChild(el('table', 'canned-list'));
  cannedList.id = 'canned-list';
  var cannedNone = i18n(cannedForm.appendChild(el('p', 'sub')), 'settings.canned.none');
  var shortcut = field(cannedForm, 'canned-shortcut', 'settings.shortcut');
  shortcut.maxLength = 40;
  var cannedText = field(cannedForm, 'canned-text', 'settings.text', 'textarea');
  cannedText.maxLength = 4000;
  cannedText.rows = 2;
  var cannedRow = cannedForm.appendChild(el('div', 'save-row'));
  var cannedSave = i18n(cannedRow.appendChild(el('button')), 'settings.add');
  cannedSave.type = 'submit';
  cannedSave.id = 'canned-save';
  var cannedCancel = i18n(cannedRow.appendChild(el('button')), 'settings.cancel');
  cannedCancel.type = 'button';
  cannedCancel.hidden = true;
  var cannedStatus = cannedRow.appendChild(el('span', 'sub'));
  cannedStatus.setAttribute('role', 'status');
  cannedForm.statusLine = cannedStatus;

  // the org's tags: their own part, saved through the same PATCH
  var renderTags = settingsTags(parts, function (form, body) { return patch(form, body); },
                                function () { return org; });

  // ---- behaviour ----------------------------------------------------------------------
  function look() {
    return { color: color.value.toLowerCase(), title: wtitle.value.trim() || null,
             position: position.value, locale: wlocale.value || null };
  }

  function hoursValue() {
    if (!hoursBox.checked) return null;
    var days = {};
    SETTINGS_DAYS.forEach(function (d) {
      var r = dayRows[d];
      // a close of 00:00 is midnight at the end of the day
      days[d] = r.open.checked && r.from.value ? [[r.from.value, r.to.value === '00:00' ? '24:00' : r.to.value]] : [];
    });
    return { timezone: tz.value, days: days };
  }

  function serverOrigin() {
    var api = document.querySelector('meta[name="clienta-server"]');
    return new URL(api ? api.content : location.href).origin;
  }

  function snippetText() {
    // no data- attributes: the org's saved look applies, and later changes reach every site
    return '<script src="' + serverOrigin() + '/widget.js" data-site-key="' + org.site_key + '" async></script>';
  }

  function refreshPreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(function () {
      if (!org) return;
      var l = look(), q = new URLSearchParams({ site_key: org.site_key, color: l.color, position: l.position });
      if (l.title) q.set('title', l.title);
      if (l.locale) q.set('locale', l.locale);
      // /try embeds the real widget.js with these as the tag's attributes, which win over
      // the saved settings: the preview shows what is on the form, saved or not
      preview.src = '/try?' + q.toString();
    }, 300);
  }
  [color, wtitle, position, wlocale].forEach(function (input) {
    input.addEventListener('input', refreshPreview);
    input.addEventListener('change', refreshPreview);
  });

  function fill(o) {
    org = o;
    orgName.value = o.name;
    var w = o.widget || {};
    color.value = w.color || '#1d4ed8';
    wtitle.value = w.title || '';
    position.value = w.position || 'right';
    wlocale.value = w.locale || '';
    snippet.value = snippetText();
    origins.value = (o.allowed_origins || []).join('\n');
    assignMode.value = o.assignment;
    capacity.value = String(o.agent_capacity);
    threshold.value = o.kb_threshold == null ? '' : String(Math.round(o.kb_threshold * 100) / 100);
    kwEn.value = ((o.handoff_keywords || {}).en || []).join('\n');
    kwTh.value = ((o.handoff_keywords || {}).th || []).join('\n');
    turns.value = o.unresolved_turns == null ? '' : String(o.unresolved_turns);
    wait.value = o.queue_wait_s == null ? '' : String(o.queue_wait_s);
    var h = o.business_hours;
    hoursBox.checked = !!h;
    if (h) setZone(h.timezone);
    SETTINGS_DAYS.forEach(function (d) {
      var span = h && h.days[d] && h.days[d][0], r = dayRows[d];
      r.open.checked = !!span;
      r.from.value = span ? span[0] : '09:00';
      r.to.value = span ? (span[1] === '24:00' ? '00:00' : span[1]) : '18:00';
    });
    offline.value = o.offline_message || '';
    renderTags();
    refreshPreview();
  }

  function patch(form, body) {
    form.statusLine.textContent = '';
    return requestJSON('PATCH', '/v1/org', token(), body).then(function (o) {
      fill(o);
      form.statusLine.textContent = tr('settings.saved');
      changed('org');
    }, function (err) { form.statusLine.textContent = tr('settings.error', err.message); });
  }

  copy.addEventListener('click', function () {
    var text = snippet.value;
    // the onboarding step is done once the snippet was copied, or selected to copy
    var copied = function (key) {
      copyStatus.textContent = tr(key);
      requestJSON('POST', '/v1/org/onboarding/snippet', token()).then(function () { changed('snippet'); },
                                                                      function () {});
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { copied('settings.copied'); }, function () {
        snippet.focus();
        snippet.select();
        copied('settings.copy.select');
      });
    } else {
      snippet.select();
      copyStatus.textContent = tr('settings.copy.select');
    }
  });

  function renderCanned() {
    var rows = canned.map(function (c) {
      var row = el('tr');
      row.appendChild(el('td', 'shortcut', '/' + String(c.shortcut || '').replace(/^\//, '')));
      row.appendChild(el('td', null, String(c.text || '')));
      var actions = row.appendChild(el('td'));
      var edit = actions.appendChild(el('button', 'edit', tr('settings.edit')));
      edit.type = 'button';
      edit.setAttribute('aria-label', tr('settings.edit') + ' /' + c.shortcut);
      edit.addEventListener('click', function () {
        editing = c.id;
        shortcut.value = c.shortcut;
        cannedText.value = c.text;
        cannedSave.textContent = tr('settings.update');
        cannedCancel.hidden = false;
        cannedText.focus();
      });
      var del = actions.appendChild(el('button', 'delete', tr('settings.delete')));
      del.type = 'button';
      del.setAttribute('aria-label', tr('settings.delete') + ' /' + c.shortcut);
      del.addEventListener('click', function () {
        requestJSON('DELETE', '/v1/canned/' + encodeURIComponent(c.id), token()).then(loadCanned,
          function (err) { cannedStatus.textContent = tr('settings.error', err.message); });
      });
      return row;
    });
    cannedList.replaceChildren.apply(cannedList, rows);
    cannedList.hidden = !rows.length;
    cannedNone.hidden = !!rows.length;
  }

  function stopEditing() {
    editing = null;
    shortcut.value = '';
    cannedText.value = '';
    cannedSave.textContent = tr('settings.add');
    cannedCancel.hidden = true;
  }
  cannedCancel.addEventListener('click', stopEditing);

  function loadCanned() {
    return fetchCanned(token()).then(function (list) {
      canned = list;
      renderCanned();
      changed('canned');
    });
  }

  cannedForm.addEventListener('submit', function (e) {
    e.preventDefault();
    cannedStatus.textContent = '';
    var body = { shortcut: shortcut.value.trim().replace(/^\//, ''), text: cannedText.value.trim() };
    var call = editing ? requestJSON('PATCH', '/v1/canned/' + encodeURIComponent(editing), token(), body)
      : requestJSON('POST', '/v1/canned', token(), body);
    call.then(function () {
      stopEditing();
      cannedStatus.textContent = tr('settings.saved');
      return loadCanned();
    }, function (err) { cannedStatus.textContent = tr('settings.error', err.message); });
  });

  function load() {
    section.setAttribute('aria-busy', 'true');
    extraLoads.forEach(function (fn) { fn(); });
    return Promise.all([requestJSON('GET', '/v1/org', token()), fetchCanned(token())]).then(function (r) {
      fill(r[0]);
      canned = r[1];
      renderCanned();
      section.removeAttribute('aria-busy');
    }, function (err) {
      section.removeAttribute('aria-busy');
      orgForm.statusLine.textContent = tr('settings.error', err.message);
    });
  }

  onLocaleChange(function () {
    translatePage(section);
    preview.title = tr('settings.preview.frame');
    button.textContent = tr(section.hidden ? 'settings.button' : 'settings.back');
    if (org) { renderCanned(); renderTags(); }
    if (editing) cannedSave.textContent = tr('settings.update');
  });

  function show(on, keepDesk) {
    if (on) {
      document.querySelectorAll('#app > section, #desk-lists').forEach(function (s) {
        if (s !== section) s.hidden = true;
      });
      load();
    } else if (!keepDesk) {
      $('desk-lists').hidden = false;
      $('desk-convo').hidden = false;
    }
    section.hidden = !on;
    button.textContent = tr(on ? 'settings.back' : 'settings.button');
  }

  button.addEventListener('click', function () { show(section.hidden); });
  // another page's button: that page takes the screen, this one steps aside
  button.parentNode.addEventListener('click', function (e) {
    var b = e.target.closest('button');
    if (b && b !== button && b.id !== 'logout' && !section.hidden) show(false, true);
  });

  return {
    allow: function (on) {
      button.hidden = !on;
      if (!on && !section.hidden) show(false);
    },
    show: show,
    // the onboarding checklist's links: open this page at one part
    open: function (partId, focusId) {
      if (section.hidden) show(true);
      var target = $(partId);
      if (target) target.scrollIntoView({ block: 'start' });
      if (focusId) setTimeout(function () { $(focusId).focus(); }, 0);
    },
    shown: function () { return !section.hidden; },
    // another module's parts (prefs.js): appended to this page, loaded whenever it opens
    extend: function (onLoad) { extraLoads.push(onLoad); return section; }
  };
}
