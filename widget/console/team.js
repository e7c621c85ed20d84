// The Team page (owners and admins): members with role and last activity, role changes
// and removal, the invite form and pending invites (resend, revoke). Every value goes in
// through textContent; the server decides who may do what and its refusals are shown.
var TEAM_ROLES = ['owner', 'admin', 'agent', 'viewer'];

function createTeamView(token, myId) {
  var $ = function (id) { return document.getElementById(id); };

  function status(text) { $('team-status').textContent = text; }

  function failed(err) { status('Error: ' + err.message); }

  // the lists are reloaded first, so what the status announces is what is shown
  function reloaded(text) { return load().then(function () { status(text); }); }

  function when(iso) { return iso ? new Date(iso).toLocaleString() : 'never'; }

  function roleSelect(current, onChange) {
    var sel = el('select');
    TEAM_ROLES.forEach(function (r) {
      var o = sel.appendChild(el('option', null, r));
      o.value = r;
    });
    sel.value = current;
    sel.addEventListener('change', function () { onChange(sel.value, sel); });
    return sel;
  }

  function memberRow(m) {
    var tr = el('tr');
    tr.dataset.userId = m.user_id;
    tr.appendChild(el('td', null, m.name || '—'));
    tr.appendChild(el('td', null, m.email));
    var roleCell = tr.appendChild(el('td'));
    roleCell.appendChild(roleSelect(m.role, function (role, sel) {
      requestJSON('PATCH', '/v1/users/' + m.user_id, token(), { role: role }).then(function () {
        return reloaded('Role changed.');
      }, function (err) { sel.value = m.role; failed(err); });
    })).setAttribute('aria-label', 'Role of ' + (m.name || m.email));
    tr.appendChild(el('td', null, when(m.last_active_at)));
    var act = tr.appendChild(el('td'));
    if (m.user_id !== myId()) {
      var rm = act.appendChild(el('button', 'remove', 'Remove'));
      rm.type = 'button';
      // two clicks, no blocking dialog: the first asks, the second removes
      rm.addEventListener('click', function () {
        if (!rm.dataset.armed) {
          rm.dataset.armed = '1';
          rm.textContent = 'Click again to remove';
          return;
        }
        requestJSON('DELETE', '/v1/users/' + m.user_id, token()).then(function () {
          return reloaded('Removed.');
        }, failed);
      });
    }
    return tr;
  }

  function inviteRow(i) {
    var tr = el('tr');
    tr.dataset.inviteId = i.invite_id;
    [i.email, i.role, i.status === 'expired' ? 'expired' : 'until ' + when(i.expires_at)]
      .forEach(function (t) { tr.appendChild(el('td', null, t)); });
    var act = tr.appendChild(el('td'));
    var again = act.appendChild(el('button', 'resend', 'Resend'));
    again.type = 'button';
    again.addEventListener('click', function () {
      requestJSON('POST', '/v1/invites/' + i.invite_id + '/resend', token()).then(function () {
        return reloaded('Invitation sent again.');
      }, failed);
    });
    var revoke = act.appendChild(el('button', 'revoke', 'Revoke'));
    revoke.type = 'button';
    revoke.addEventListener('click', function () {
      requestJSON('DELETE', '/v1/invites/' + i.invite_id, token()).then(function () {
        return reloaded('Invitation revoked.');
      }, failed);
    });
    return tr;
  }

  function load() {
    return Promise.all([
      requestJSON('GET', '/v1/users?limit=200', token()),
      requestJSON('GET', '/v1/invites?limit=200', token())
    ]).then(function (pages) {
      $('team-members').replaceChildren.apply($('team-members'), (pages[0].items || []).map(memberRow));
      var invites = pages[1].items || [];
      $('team-invites').replaceChildren.apply($('team-invites'), invites.map(inviteRow));
      $('team-no-invites').hidden = invites.length > 0;
    }, failed);
  }

  $('invite-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var body = { email: $('invite-email').value.trim(), role: $('invite-role').value };
    if ($('invite-locale').value) body.locale = $('invite-locale').value;
    requestJSON('POST', '/v1/invites', token(), body).then(function () {
      $('invite-email').value = '';
      return reloaded('Invitation sent to ' + body.email + '.');
    }, failed);
  });

  return {
    show: function (on) {
      $('team').hidden = !on;
      if (on) { status(''); load(); }
    },
    shown: function () { return !$('team').hidden; }
  };
}

// The pages a mailed link opens: #invite=<token> (choose a name and password),
// #reset=<token> (choose a new password) and #verify=<token>. The token stays in the
// fragment, which browsers never send to a server, and is dropped from the address bar.
function openLinkPage(onSignedIn) {
  var $ = function (id) { return document.getElementById(id); };
  var m = /^#(invite|reset|verify)=([A-Za-z0-9_-]{1,256})$/.exec(location.hash);
  if (!m) return false;
  var kind = m[1], token = m[2];
  history.replaceState(null, '', location.pathname + location.search);
  $('login-view').hidden = true;
  $('link-view').hidden = false;
  var msg = $('link-message');

  function show(title, text) {
    $('link-title').textContent = title;
    msg.textContent = text || '';
  }

  function done(text) {
    $('link-form').hidden = true;
    show('All set', text);
    $('link-login').hidden = false;
  }

  $('link-login').addEventListener('click', function () {
    $('link-view').hidden = true;
    $('login-view').hidden = false;
  });

  if (kind === 'verify') {
    $('link-form').hidden = true;
    show('Confirming your address…');
    requestJSON('POST', '/v1/email/verify', null, { token: token }).then(function () {
      done('Your email address is confirmed.');
    }, function (err) { show('This link does not work', err.message); $('link-login').hidden = false; });
    return true;
  }
  $('link-name-row').hidden = kind !== 'invite';
  $('link-name').required = kind === 'invite';
  if (kind === 'invite') {
    show('Join your team');
    requestJSON('POST', '/v1/invites/preview', null, { token: token }).then(function (p) {
      show('Join ' + p.org_name, 'You were invited as ' + p.role + ' (' + p.email + ').');
    }, function (err) { show('This invitation does not work', err.message); });
  } else {
    show('Choose a new password', 'Every device signed in to your account will be signed out.');
  }
  $('link-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var password = $('link-password').value;
    if (kind === 'invite') {
      requestJSON('POST', '/v1/invites/accept', null,
        { token: token, name: $('link-name').value.trim(), password: password }).then(function (s) {
        $('link-view').hidden = true;
        onSignedIn(s);
      }, function (err) { msg.textContent = err.message; });
    } else {
      requestJSON('POST', '/v1/password/reset', null, { token: token, password: password }).then(function () {
        done('Your password is changed. Log in with it.');
      }, function (err) { msg.textContent = err.message; });
    }
  });
  return true;
}
