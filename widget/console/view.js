// The console's DOM. Visitor, bot and agent text goes in through renderRich or
// textContent only: the console is the most privileged page a payload could reach.
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function createDeskView() {
  var $ = function (id) { return document.getElementById(id); };
  var log = $('transcript'), streams = {};

  function near() { return log.scrollHeight - log.scrollTop - log.clientHeight < 80; }

  function entry(m, kind) {
    var a = m.author || { role: 'system' }, role = kind === 'note' ? 'note' : a.role || 'system';
    var e = el('div', 'e ' + role);
    var who = role === 'visitor' ? 'Visitor' : role === 'bot' ? 'Bot' : role === 'system' ? '' : a.name || 'Agent';
    if (role === 'note') who = 'Private note · ' + (a.name || 'Agent');
    if (who) e.appendChild(el('div', 'who', who));
    renderRich(e.appendChild(el('div', 'body')), m.text || '');
    renderSources(e, m.sources, 'Sources');
    if (m.seq != null) e.dataset.seq = m.seq;
    if (m.id) e.dataset.id = m.id;
    return e;
  }

  function byId(id) {
    return id ? log.querySelector('[data-id="' + CSS.escape(id) + '"]') : null;
  }

  // Same ordering rule as the widget: by seq, above anything still pending.
  function place(e) {
    var seq = +e.dataset.seq, kids = log.children;
    for (var i = 0; i < kids.length; i++) {
      var k = kids[i];
      if (k === e) return e;
      if (k.classList.contains('pending') || +k.dataset.seq > seq) return log.insertBefore(e, k);
    }
    return e.parentNode ? e : log.appendChild(e);
  }

  function listItem(c, current, pick) {
    var li = el('li'), b = li.appendChild(el('button'));
    b.type = 'button';
    b.dataset.id = c.id;
    b.setAttribute('aria-current', String(c.id === current));
    b.appendChild(el('span', 'name', visitorLabel(c.visitor, c.id)));
    b.appendChild(el('span', 'preview', (c.mode || '') + (c.preview ? ' · ' + c.preview : '')));
    b.addEventListener('click', function () { pick(c.id); });
    return li;
  }

  return {
    login: function (show, error) {
      $('login-view').hidden = !show;
      $('app').hidden = show;
      $('login-error').textContent = error || '';
      if (show && error !== undefined) $('login-password').value = '';
    },
    me: function (user) { $('me').textContent = (user && (user.name || user.email)) || ''; },
    conn: function (text) { $('conn').textContent = text; },
    lists: function (g, current, pick) {
      [['list-mine', g.mine], ['list-queued', g.queued], ['list-other', g.other]].forEach(function (p) {
        $(p[0]).replaceChildren.apply($(p[0]), p[1].map(function (c) { return listItem(c, current, pick); }));
      });
    },
    header: function (room, c, meId) {
      $('empty').hidden = !!room;
      $('convo-main').hidden = !room;
      if (!room) return;
      c = c || {};
      var v = room.visitor || c.visitor, mode = room.mode || c.mode || '';
      $('convo-title').textContent = visitorLabel(v, room.id);
      var follow = c.followup_email ? 'reply by email: ' + c.followup_email : '';
      $('convo-sub').textContent = [v && v.email, follow, 'conversation ' + room.id].filter(Boolean).join(' · ');
      $('convo-mode').textContent = mode === 'agent' && c.assignee_id === meId ? 'agent (you)' : mode;
      $('btn-claim').disabled = mode === 'closed' || (mode === 'agent' && c.assignee_id === meId);
      $('btn-release').disabled = !(mode === 'agent' && c.assignee_id === meId);
      $('btn-close').disabled = mode === 'closed';
    },
    clear: function () {
      log.replaceChildren();
      streams = {};
      $('their-typing').textContent = '';
    },
    add: function (m, kind, streamId) {
      var stick = near(), old = byId(m.id) || (streamId && streams[streamId]), e = entry(m, kind);
      if (streamId) delete streams[streamId];
      if (old) log.replaceChild(e, old);
      place(e);
      if (stick) log.scrollTop = log.scrollHeight;
    },
    pending: function (id, text, kind, me) {
      var e = entry({ id: id, text: text, author: { role: 'agent', name: me } }, kind);
      e.classList.add('pending');
      log.appendChild(e);
      log.scrollTop = log.scrollHeight;
    },
    settle: function (id, seq) {
      var e = byId(id);
      if (!e) return;
      e.classList.remove('pending');
      e.dataset.seq = seq;
      place(e);
    },
    failed: function (id) {
      var e = byId(id);
      if (e) e.classList.replace('pending', 'failed');
    },
    stream: function (id, text) {
      var e = streams[id];
      if (!e) {
        e = streams[id] = log.appendChild(entry({ author: { role: 'bot' }, text: '' }));
        e.classList.add('streaming');
      }
      var body = e.querySelector('.body');
      body.replaceChildren();
      renderRich(body, text);
    },
    typing: function (text) { $('their-typing').textContent = text || ''; }
  };
}
