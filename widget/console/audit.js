// The audit log page (owners and admins): GET /v1/audit with filters, newest first,
// "Load more" follows next_cursor. Every value goes in through textContent.
// The filter's choices: server/domain/audit.py's AuditAction (add new actions here too;
// tests/domain/test_audit.py refuses names the server does not know).
var AUDIT_ACTIONS = [
  'auth.sign_in', 'auth.sign_in_failed', 'auth.sign_out', 'auth.password_reset_requested',
  'auth.password_reset', 'auth.email_verified', 'auth.google_linked',
  'org.created', 'org.settings_changed',
  'user.created', 'user.role_changed', 'user.removed', 'user.updated', 'invite.sent',
  'invite.resent', 'invite.revoked', 'invite.accepted', 'kb.document_added',
  'kb.document_replaced', 'kb.document_deleted', 'kb.reindexed',
  'conversation.history_opened', 'data.exported', 'visitor.erased', 'org.erased',
  'keys.rotated', 'backup.created', 'backup.restored', 'billing.plan_changed',
  'billing.checkout_started', 'billing.cancel_requested', 'billing.payment_failed'
];

function createAuditView(token) {
  var $ = function (id) { return document.getElementById(id); };
  var cursor = null, filters = {}, busy = false;

  var select = $('audit-action');
  select.replaceChildren(el('option', null, 'Any action'));
  select.firstChild.value = '';
  AUDIT_ACTIONS.forEach(function (a) { select.appendChild(el('option', null, a)).value = a; });

  function who(actor) {
    actor = actor || {};
    if (actor.kind === 'system') return 'system · ' + (actor.label || '');
    if (actor.kind === 'anonymous') return 'anonymous';
    return actor.kind + (actor.id ? ' · ' + actor.id : '');
  }

  function what(target) {
    return target ? target.kind + (target.id ? ' · ' + target.id : '') : '';
  }

  function details(d) {
    return Object.keys(d || {}).map(function (k) {
      var v = d[k];
      return k + ': ' + (Array.isArray(v) ? v.join(', ') : String(v));
    }).join('; ');
  }

  function row(e) {
    var tr = el('tr');
    tr.dataset.action = e.action;
    [new Date(e.at).toLocaleString(), who(e.actor), e.action, what(e.target), e.ip || '',
     details(e.detail)].forEach(function (text) { tr.appendChild(el('td', null, text)); });
    return tr;
  }

  function load(reset) {
    if (busy) return Promise.resolve();
    busy = true;
    var q = new URLSearchParams(filters);
    if (!reset && cursor) q.set('cursor', cursor);
    $('audit-status').textContent = 'Loading…';
    return requestJSON('GET', '/v1/audit?' + q.toString(), token()).then(function (j) {
      if (reset) $('audit-rows').replaceChildren();
      (j.items || []).forEach(function (e) { $('audit-rows').appendChild(row(e)); });
      cursor = j.next_cursor || null;
      $('audit-more').hidden = !cursor;
      var n = $('audit-rows').children.length;
      $('audit-status').textContent = n ? n + ' entries' : 'No entries match.';
    }, function (err) {
      $('audit-status').textContent = 'Error: ' + err.message;
    }).then(function () { busy = false; });
  }

  $('audit-filters').addEventListener('submit', function (e) {
    e.preventDefault();
    filters = {};
    [['action', 'audit-action'], ['actor', 'audit-actor'], ['from', 'audit-from'],
     ['to', 'audit-to']].forEach(function (p) {
      var v = $(p[1]).value.trim();
      if (v) filters[p[0]] = v;
    });
    cursor = null;
    load(true);
  });
  $('audit-more').addEventListener('click', function () { load(false); });

  return {
    show: function (on) {
      $('audit').hidden = !on;
      $('desk-lists').hidden = on;
      $('desk-convo').hidden = on;
      $('audit-toggle').textContent = on ? 'Conversations' : 'Audit log';
      if (on) { cursor = null; load(true); }
    },
    shown: function () { return !$('audit').hidden; }
  };
}
