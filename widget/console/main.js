// Console wiring: log in, hold the token in this closure only, run the agent
// socket, and turn buttons into frames (claim, release, close, msg, note, typing).
function startConsole() {
  var $ = function (id) { return document.getElementById(id); };
  var view = createDeskView(), desk = createDesk();
  var session = null, me = {}, room = null, canned = [];
  var audit = createAuditView(function () { return session && session.token; });
  var billing = createBillingView(function () { return session && session.token; },
                                  function () { return session && session.role; });
  var kbView = createKbView(function () { return session && session.token; });
  var team = createTeamView(function () { return session && session.token; },
                            function () { return me.id; });
  var pastView = createHistoryView(function () { return session && session.token; });
  var insights = createInsightsView(function () { return session && session.token; });
  var privacyView = createPrivacyView(function () { return session && session.token; },
                                      function () { return session && session.role; });
  var policyBanner = createPolicyBanner();
  var typingOn = false, typingTimer = null, theirTimer = null;
  // settings (owners, admins) tell what they changed: the desk's canned list follows, and
  // the onboarding checklist reads its steps again
  var settings = createSettingsView(function () { return session && session.token; }, function (what) {
    if (what === 'canned') fetchCanned(session && session.token).then(cannedChanged);
    onboarding.refresh();
  });
  var onboarding = createOnboarding(function () { return session && session.token; }, settings);
  addOrgPrefs(function () { return session && session.token; }, settings);
  var myPrefs = createMyPrefsView(function () { return session && session.token; });
  // a static build (clienta widget build) names the API origin: HTTP goes through the
  // CDN's rewrite of /v1/, the socket straight to the API (CDNs proxy no websockets)
  var api = document.querySelector('meta[name="clienta-server"]');
  var base = new URL(api ? api.content : location.href);
  var wsUrl = (base.protocol === 'https:' ? 'wss://' : 'ws://') + base.host + '/v1/ws/agent';

  var conn = createConnection(wsUrl, {
    open: function () {
      view.conn('Connecting…');
      conn.send({ t: 'hello', token: session.token });
    },
    frame: function (f) {
      var fn = handlers[f.t];
      if (fn) fn(f);
    },
    close: function (code, info) {
      if (info.retry) return view.conn('Connection lost, reconnecting…');
      logOut(code === CLOSE.UNAUTHORIZED ? 'Your session has ended. Please log in again.' : 'Access refused (' + code + ').');
    }
  });

  function send(t, extra) {
    if (!room) return false;
    var f = Object.assign({ t: t, conversation_id: room.id }, extra);
    return conn.send(f);
  }

  function inRoom(f) { return room && f.conversation_id === room.id; }

  function renderLists() {
    view.lists(desk.groups(me.id), room && room.id, pick);
    if (room) view.header(room, desk.get(room.id), me.id);
  }

  function join() {
    var f = { t: 'join', conversation_id: room.id };
    if (room.seq) f.last_seq = room.seq;
    conn.send(f);
  }

  function pick(id) {
    if (room && room.id === id) return;
    if (room) send('leave');
    stopTyping();
    room = createRoom(id);
    view.clear();
    renderLists();
    join();
    $('reply-text').focus();
  }

  function entry(f, kind) {
    if (!inRoom(f)) return;
    if (typeof f.seq === 'number') {
      // The resume point moves on stored events only, never on an ack alone.
      room.seq = Math.max(room.seq, f.seq);
      if (room.seen[f.seq]) return;
      room.seen[f.seq] = 1;
    }
    if (f.id) delete room.pending[f.id];
    if (f.stream_id) room.done[f.stream_id] = 1;
    view.add(f, kind, f.stream_id);
    if (f.author && f.author.role === 'visitor') view.typing('');
  }

  var handlers = {
    // the user's role changed (issue 19): the server already applies it to every frame
    role: function (f) {
      if (session) session.role = f.role;
      managerButtons();
    },
    welcome: function (f) {
      me = Object.assign({ id: session && session.user_id }, f.user || {});
      desk.clear();
      (f.queue || []).concat(f.assigned || []).forEach(desk.put);
      view.me(me);
      view.conn('');
      conn.healthy();
      if ($('away').checked) conn.send({ t: 'away', on: true });
      renderLists();
      if (!room) return;
      // Back after a drop: catch up from the last seq, then resend unacked replies.
      join();
      Object.keys(room.pending).forEach(function (id) {
        var p = room.pending[id];
        send(p.kind, { id: id, text: p.text });
      });
    },
    // Auto-assignment or a transfer handed this agent a conversation.
    assigned: function (f) {
      desk.put(f.conversation);
      renderLists();
    },
    queue: function (f) {
      var c = f.conversation || {};
      if (f.op === 'remove') desk.remove(c.id);
      else desk.put(c);
      renderLists();
    },
    joined: function (f) {
      if (!inRoom(f)) return;
      room.mode = f.mode;
      room.visitor = f.visitor;
      var patch = { id: room.id, mode: f.mode, visitor: f.visitor };
      ['assignee_id', 'followup_email'].forEach(function (k) { if (k in f) patch[k] = f[k]; });
      desk.put(patch);
      renderLists();
    },
    msg: function (f) { entry(f, 'msg'); },
    note: function (f) { entry(f, 'note'); },
    ack: function (f) {
      if (!room || !room.pending[f.id]) return;
      delete room.pending[f.id];
      room.seen[f.seq] = 1;
      view.settle(f.id, f.seq);
    },
    'bot.start': function (f) {
      if (!inRoom(f)) return;
      room.streams[f.stream_id] = '';
      view.stream(f.stream_id, '');
    },
    // A delta without a conversation id belongs here only if its stream started here.
    'bot.delta': function (f) {
      if (!room || room.done[f.stream_id]) return;
      if (f.conversation_id ? !inRoom(f) : !(f.stream_id in room.streams)) return;
      var cur = room.streams[f.stream_id] || '', off = typeof f.offset === 'number' ? f.offset : cur.length;
      if (off > cur.length) return;
      room.streams[f.stream_id] = cur = cur.slice(0, off) + String(f.text || '');
      view.stream(f.stream_id, cur);
    },
    'bot.snapshot': function (f) {
      if (!room || room.done[f.stream_id] || (f.conversation_id && !inRoom(f))) return;
      room.streams[f.stream_id] = String(f.text || '');
      view.stream(f.stream_id, room.streams[f.stream_id]);
    },
    typing: function (f) {
      var a = f.author || {};
      if (!inRoom(f) || a.role !== 'visitor') return;
      clearTimeout(theirTimer);
      view.typing(f.on ? 'Visitor is typing…' : '');
      if (f.on) theirTimer = setTimeout(view.typing, 6000, '');
    },
    mode: function (f) {
      var patch = { id: f.conversation_id, mode: f.mode };
      if (f.agent) patch.assignee_id = f.agent.id;
      else if (f.mode !== 'agent') patch.assignee_id = null;
      desk.put(patch);
      if (inRoom(f)) room.mode = f.mode;
      renderLists();
    },
    error: function (f) {
      if (f.ref && room && room.pending[f.ref] && f.code !== ERROR.RATE_LIMITED) {
        delete room.pending[f.ref];
        view.failed(f.ref);
      }
      view.conn('Error: ' + (f.message || f.code));
      setTimeout(view.conn, 5000, '');
    }
  };

  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingOn) send('typing', { on: false });
    typingOn = false;
  }

  function logOut(message) {
    // Dropping the reference is the whole logout on this side: the token was never stored.
    session = null;
    room = null;
    conn.stop();
    desk.clear();
    view.clear();
    view.header(null);
    audit.show(false);
    showTeam(false);
    billing.allow(false);
    settings.allow(false);
    onboarding.allow(false);
    kbView.allow(false);
    pastView.allow(false);
    insights.allow(false);
    privacyView.allow(false);
    myPrefs.allow(false);
    policyBanner(false);
    $('audit-toggle').hidden = true;
    $('team-toggle').hidden = true;
    $('verify-banner').hidden = true;
    view.login(true, message);
  }

  function isManager() { return !!session && (session.role === 'owner' || session.role === 'admin'); }

  function managerButtons() {
    billing.allow(isManager());
    settings.allow(isManager());
    onboarding.allow(isManager());
    kbView.allow(isManager());
    pastView.allow(!!session);  // every role reads history; insights are for managers
    insights.allow(isManager());
    privacyView.allow(isManager());  // rights requests and the account's end: managers
    myPrefs.allow(!!session);  // everyone's own notification mails
    $('audit-toggle').hidden = !isManager();
    $('team-toggle').hidden = !isManager();
    if (!isManager()) { audit.show(false); showTeam(false); }
  }

  function showTeam(on) {
    if (on) audit.show(false);
    team.show(on);
    $('desk-lists').hidden = on;
    $('desk-convo').hidden = on;
    $('team-toggle').textContent = on ? 'Conversations' : 'Team';
  }

  $('login-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var email = $('login-email').value.trim(), password = $('login-password').value;
    $('login-error').textContent = '';
    logIn(email, password).then(signedIn, function (err) {
      view.login(true, err.status === 401 ? tr('auth.wrong') : err.message);
    });
  });

  function signedIn(s) {
    session = s;
    me = { id: s.user_id };
    // The audit log and the team are for owners and admins; the server refuses anyone
    // else anyway.
    managerButtons();
    policyBanner(true);  // a coming policy change, for every role
    requestJSON('GET', '/v1/me', s.token).then(function (m) {
      me.name = m.name;
      $('verify-banner').hidden = !!m.email_verified;
    }, function () {});
    view.login(false);
    view.conn('Connecting…');
    conn.start();
    return fetchCanned(s.token).then(cannedChanged);
  }

  $('logout').addEventListener('click', function () {
    // revoked on the server too: the token stops working everywhere (POST /v1/logout)
    var token = session && session.token;
    logOut('');
    if (token) requestJSON('POST', '/v1/logout', token).catch(function () {});
  });
  $('audit-toggle').addEventListener('click', function () {
    if (team.shown()) showTeam(false);
    audit.show(!audit.shown());
  });
  $('team-toggle').addEventListener('click', function () { showTeam(!team.shown()); });
  $('verify-resend').addEventListener('click', function () {
    requestJSON('POST', '/v1/email/verification', session && session.token).then(function () {
      $('verify-resend').textContent = 'Sent: check your mailbox';
    }, function (err) { $('verify-resend').textContent = err.message; });
  });
  // Away agents are not auto-assigned and do not count as online for visitors.
  $('away').addEventListener('change', function (e) { conn.send({ t: 'away', on: e.target.checked }); });
  $('btn-claim').addEventListener('click', function () { send('claim'); });
  $('btn-release').addEventListener('click', function () { send('release'); });
  $('btn-close').addEventListener('click', function () { send('close'); });
  $('as-note').addEventListener('change', function (e) {
    $('reply-form').classList.toggle('note-mode', e.target.checked);
  });

  function cannedChanged(list) {
    canned = list;
    var sel = $('canned');
    sel.replaceChildren(el('option', null, '—'));
    list.forEach(function (c, i) {
      var o = sel.appendChild(el('option', null, (c.shortcut ? '/' + c.shortcut.replace(/^\//, '') + ' — ' : '') + String(c.text || '').slice(0, 60)));
      o.value = String(i);
    });
    sel.firstChild.value = '';
  }

  function insert(text) {
    var ta = $('reply-text'), s = ta.selectionStart, end = ta.selectionEnd;
    ta.value = ta.value.slice(0, s) + text + ta.value.slice(end);
    ta.selectionStart = ta.selectionEnd = s + text.length;
    ta.focus();
  }

  $('canned').addEventListener('change', function (e) {
    var c = canned[+e.target.value];
    if (e.target.value !== '' && c) insert(String(c.text || ''));
    e.target.value = '';
  });

  $('reply-text').addEventListener('keydown', function (e) {
    var ta = e.target;
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('reply-form').requestSubmit();
    } else if (e.key === 'Tab' && !e.shiftKey) {
      // "/shortcut" right before the caret expands to its canned text.
      var m = /(^|\s)\/(\S+)$/.exec(ta.value.slice(0, ta.selectionStart));
      var hit = m && canned.filter(function (c) { return String(c.shortcut || '').replace(/^\//, '') === m[2]; })[0];
      if (!hit) return;
      e.preventDefault();
      ta.selectionStart -= m[2].length + 1;
      insert(String(hit.text || ''));
    }
  });

  $('reply-text').addEventListener('input', function () {
    if (!room) return;
    if (!typingOn) typingOn = send('typing', { on: true });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 3000);
  });

  $('reply-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var ta = $('reply-text'), text = ta.value.trim();
    if (!room || !text) return;
    var kind = $('as-note').checked ? 'note' : 'msg', id = newClientId();
    room.pending[id] = { kind: kind, text: text };
    view.pending(id, text, kind, me.name || 'You');
    send(kind, { id: id, text: text });
    stopTyping();
    ta.value = '';
  });

  view.login(true);
  openAuthPages(signedIn);  // sign-up, the language switch, the login page's words
  // before the link page, which drops the fragment: an invitation may be joined with Google
  openGoogleSignIn(signedIn);  // the Google button; #google: back from Google's sign-in
  openLinkPage(signedIn);  // a mailed link (#invite=, #reset=, #verify=) opens its page
}

setConsoleLocale(pickConsoleLocale());  // the saved choice, else the browser's language
startConsole();
