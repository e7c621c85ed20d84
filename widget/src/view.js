// The widget's DOM, inside a Shadow DOM so the host page's CSS and ours never mix.
// Every visitor, agent and bot text reaches the page through renderRich or
// textContent; nothing here assigns markup.
function h(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function svgIcon(d) {
  var ns = 'http://www.w3.org/2000/svg', s = document.createElementNS(ns, 'svg'), p = document.createElementNS(ns, 'path');
  s.setAttribute('viewBox', '0 0 24 24');
  s.setAttribute('aria-hidden', 'true');
  p.setAttribute('d', d);
  s.appendChild(p);
  return s;
}

// Text colour for a custom accent: whichever of white or near-black contrasts more.
function readableOn(rgb) {
  var c = (rgb.match(/[\d.]+/g) || [0, 0, 0]).slice(0, 3).map(function (v) {
    v = v / 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  var l = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  return 1.05 / (l + 0.05) >= (l + 0.05) / 0.0556 ? '#fff' : '#111';
}

function createView(cfg, t, locale, act) {
  var host = document.createElement('clienta-widget');
  var root = host.attachShadow({ mode: 'open' });
  if (root.adoptedStyleSheets && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
    // A constructed sheet also works on hosts whose CSP forbids inline <style>.
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(WIDGET_CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.appendChild(h('style', null, WIDGET_CSS));
  }

  var wrap = root.appendChild(h('div', 'w ' + cfg.position));
  wrap.lang = locale;
  var title = cfg.title || t('title');

  var launcher = wrap.appendChild(h('button', 'launch'));
  launcher.type = 'button';
  launcher.setAttribute('aria-expanded', 'false');
  launcher.setAttribute('aria-controls', 'clienta-panel');
  launcher.appendChild(svgIcon('M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z'));
  var badge = launcher.appendChild(h('span', 'badge'));
  badge.setAttribute('aria-hidden', 'true');
  badge.hidden = true;

  var panel = wrap.appendChild(h('section', 'panel'));
  panel.id = 'clienta-panel';
  panel.hidden = true;
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-label', title);

  var head = panel.appendChild(h('header', 'head'));
  head.appendChild(h('h2', 'title', title));
  var handoff = head.appendChild(h('button', 'handoff', t('handoff')));
  handoff.type = 'button';
  handoff.hidden = true;
  var closer = head.appendChild(h('button', 'x'));
  closer.type = 'button';
  closer.setAttribute('aria-label', t('close'));
  closer.appendChild(svgIcon('M6 6l12 12M18 6L6 18'));

  var status = panel.appendChild(h('div', 'status'));
  status.setAttribute('role', 'status');
  status.hidden = true;
  var banner = panel.appendChild(h('div', 'banner'));
  banner.setAttribute('role', 'status');
  banner.hidden = true;

  var log = panel.appendChild(h('div', 'log'));
  log.setAttribute('role', 'log');
  log.setAttribute('aria-live', 'polite');
  log.setAttribute('aria-label', t('log'));
  log.tabIndex = 0;
  var typingEl = panel.appendChild(h('div', 'typing'));
  typingEl.hidden = true;

  var emailForm = panel.appendChild(h('form', 'extra email'));
  emailForm.hidden = true;
  emailForm.appendChild(h('p', null, t('noAgents')));
  var emailInput = h('input');
  emailInput.type = 'email';
  emailInput.required = true;
  emailInput.autocomplete = 'email';
  emailInput.maxLength = 254;
  var emailLabel = emailForm.appendChild(h('label', null, t('email')));
  emailLabel.appendChild(emailInput);
  emailForm.appendChild(h('button', 'btn', t('send')));

  // The answer to a long wait in the queue: keep waiting, or back to the bot.
  var waitBox = panel.appendChild(h('div', 'extra wait'));
  waitBox.hidden = true;
  ['keep', 'bot'].forEach(function (choice) {
    var b = waitBox.appendChild(h('button', 'btn', t(choice === 'keep' ? 'keepWaiting' : 'backToBot')));
    b.type = 'button';
    b.addEventListener('click', function () { act.wait(choice); });
  });

  var csat = panel.appendChild(h('form', 'extra csat'));
  csat.hidden = true;
  var csatScore = 0;
  var stars = csat.appendChild(h('div', 'stars'));
  stars.setAttribute('role', 'group');
  stars.setAttribute('aria-label', t('csat'));
  stars.appendChild(h('p', null, t('csat')));
  for (var i = 1; i <= 5; i++) {
    var sb = stars.appendChild(h('button', 'star', String(i)));
    sb.type = 'button';
    sb.value = i;
    sb.setAttribute('aria-label', t('star', i));
    sb.setAttribute('aria-pressed', 'false');
  }
  var csatComment = h('textarea');
  csatComment.rows = 2;
  csatComment.maxLength = 1000;
  csat.appendChild(h('label', null, t('comment'))).appendChild(csatComment);
  var csatSend = csat.appendChild(h('button', 'btn', t('rate')));
  csatSend.disabled = true;

  var composer = panel.appendChild(h('form', 'composer'));
  var input = h('textarea');
  input.id = 'clienta-input';
  input.rows = 1;
  input.maxLength = 4000;
  input.placeholder = t('placeholder');
  input.setAttribute('aria-label', t('input'));
  composer.appendChild(input);
  var sendBtn = composer.appendChild(h('button', 'send'));
  sendBtn.setAttribute('aria-label', t('send'));
  sendBtn.appendChild(svgIcon('M3 20l18-8L3 4v6l12 2-12 2z'));

  var streams = {};
  var notice = null;

  function near() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function follow(stick) {
    if (stick) log.scrollTop = log.scrollHeight;
  }

  function bubble(m) {
    var role = (m.author && m.author.role) || 'system';
    var el = h('div', 'm ' + role);
    var who = role === 'visitor' ? t('you') : role === 'bot' ? t('bot') : role === 'agent' ? m.author.name || t('someone') : '';
    if (who) el.appendChild(h('div', role === 'visitor' ? 'who sr' : 'who', who));
    renderRich(el.appendChild(h('div', 'body')), m.text || '');
    renderSources(el, m.sources, t('sources'));
    if (m.seq != null) {
      el.dataset.seq = m.seq;
      el.dataset.conv = m.conversation_id || '';
    }
    if (m.id) el.dataset.id = m.id;
    return el;
  }

  // Stored messages go in seq order and always above the visitor's unsent ones,
  // so a replay after reconnecting slots in where it belongs. An element already
  // drawn only ever moves up, past what it must precede.
  function place(el) {
    var seq = el.dataset.seq == null ? null : +el.dataset.seq, kids = log.children;
    for (var i = 0; i < kids.length && seq != null; i++) {
      var k = kids[i];
      if (k === el) return el;
      if (k.dataset.pending || (k.dataset.conv === el.dataset.conv && +k.dataset.seq > seq)) {
        return log.insertBefore(el, k);
      }
    }
    return el.parentNode ? el : log.appendChild(el);
  }

  function byId(id) {
    return id ? log.querySelector('[data-id="' + CSS.escape(id) + '"]') : null;
  }

  function swap(old, m) {
    var el = bubble(m);
    log.replaceChild(el, old);
    // The stored copy may belong further up than where it was drawn while pending.
    if (m.seq != null) place(el);
    return el;
  }

  function open() {
    panel.hidden = false;
    wrap.classList.add('open');
    launcher.setAttribute('aria-expanded', 'true');
    follow(true);
    input.focus({ preventScroll: true });
  }

  function close() {
    var had = root.activeElement;
    panel.hidden = true;
    wrap.classList.remove('open');
    launcher.setAttribute('aria-expanded', 'false');
    if (had) launcher.focus();
  }

  launcher.addEventListener('click', function () {
    if (panel.hidden) act.open();
    else act.close();
  });
  closer.addEventListener('click', function () { act.close(); });
  panel.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') act.close();
  });
  handoff.addEventListener('click', function () { act.handoff(); });

  composer.addEventListener('submit', function (e) {
    e.preventDefault();
    if (act.send(input.value)) {
      input.value = '';
      input.style.height = '';
    }
    input.focus();
  });
  input.addEventListener('keydown', function (e) {
    // isComposing: Enter that confirms an IME candidate (Thai, CJK) is not "send".
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });
  input.addEventListener('input', function () {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight, 120) + 'px';
    if (input.value) act.typing();
  });

  emailForm.addEventListener('submit', function (e) {
    e.preventDefault();
    act.email(emailInput.value.trim());
  });
  stars.addEventListener('click', function (e) {
    var b = e.target.closest('.star');
    if (!b) return;
    csatScore = +b.value;
    csatSend.disabled = false;
    stars.querySelectorAll('.star').forEach(function (s) {
      s.setAttribute('aria-pressed', String(+s.value <= csatScore));
    });
  });
  csat.addEventListener('submit', function (e) {
    e.preventDefault();
    if (csatScore) act.csat(csatScore, csatComment.value.trim());
  });

  function mount() {
    document.body.appendChild(host);
    // Accent colour: only values the browser accepts as a colour reach the style;
    // it is resolved once attached, when computed styles exist.
    if (cfg.color && window.CSS && CSS.supports('color', cfg.color)) {
      wrap.style.setProperty('--c', cfg.color);
      wrap.style.color = cfg.color;
      wrap.style.setProperty('--cf', readableOn(getComputedStyle(wrap).color));
      wrap.style.color = '';
    }
  }

  return {
    // the parts the privacy menu (privacy.js) adds to
    head: head, closer: closer, panel: panel, composer: composer, input: input, send: sendBtn,
    mount: mount,
    open: open,
    close: close,
    isOpen: function () { return !panel.hidden; },
    unread: function (n) {
      badge.hidden = !n;
      badge.textContent = n > 9 ? '9+' : String(n);
      launcher.setAttribute('aria-label', n ? t('openUnread', n) : t('open'));
    },
    status: function (key) {
      status.hidden = !key;
      status.textContent = key ? t(key) : '';
      wrap.classList.toggle('down', key === 'reconnecting' || key === 'connecting');
    },
    banner: function (text) {
      banner.hidden = !text;
      banner.textContent = text || '';
    },
    handoff: function (show) { handoff.hidden = !show; },
    email: function (show, sentTo) {
      emailForm.hidden = !show;
      if (sentTo) {
        emailForm.replaceChildren(h('p', null, t('emailSent', sentTo)));
        emailForm.hidden = false;
      }
    },
    wait: function (show) { waitBox.hidden = !show; },
    csat: function (show, done) {
      csat.hidden = !show;
      if (done) {
        csat.replaceChildren(h('p', null, t('thanks')));
        csat.hidden = false;
      }
    },
    // A short-lived line for errors that need no action beyond reading.
    notice: function (text) {
      if (notice) notice.remove();
      notice = log.appendChild(h('div', 'm system', text));
      follow(true);
    },
    clear: function () {
      log.replaceChildren();
      streams = {};
    },
    add: function (m) {
      var stick = near(), old = byId(m.id) || (m.stream_id && streams[m.stream_id]);
      if (m.stream_id) delete streams[m.stream_id];
      var el = old ? swap(old, m) : place(bubble(m));
      follow(stick);
      return el;
    },
    pending: function (id, text) {
      var el = bubble({ id: id, text: text, author: { role: 'visitor' } });
      el.dataset.pending = '1';
      el.appendChild(h('div', 'meta', t('sending')));
      log.appendChild(el);
      follow(true);
    },
    settle: function (id, seq, conv) {
      var el = byId(id);
      if (!el || !el.dataset.pending) return;
      delete el.dataset.pending;
      el.dataset.seq = seq;
      el.dataset.conv = conv || '';
      var meta = el.querySelector('.meta');
      if (meta) meta.remove();
      place(el);
    },
    failed: function (id) {
      var el = byId(id), meta = el && el.querySelector('.meta');
      if (!meta) return;
      delete el.dataset.pending;
      el.classList.add('failed');
      meta.textContent = t('failed');
    },
    // The bot's answer while it is being written; the final msg replaces it.
    stream: function (id, text) {
      var stick = near(), el = streams[id];
      if (!el) {
        el = streams[id] = log.appendChild(bubble({ author: { role: 'bot' }, text: '' }));
        el.classList.add('streaming');
        el.setAttribute('aria-busy', 'true');
      }
      var body = el.querySelector('.body');
      body.replaceChildren();
      renderRich(body, text);
      follow(stick);
    },
    dropStreams: function () {
      for (var k in streams) streams[k].remove();
      streams = {};
    },
    typing: function (name) {
      typingEl.hidden = !name;
      typingEl.textContent = name ? t('typing', name) : '';
    }
  };
}
