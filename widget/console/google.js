// Google sign-in in the console: the button (shown only when the server has Google
// configured: GET /v1/auth/methods), "Join with Google" on an invitation's page, and the
// page the provider's redirect comes back to (#google or #google_error=<code>). There the
// verified identity is completed: at once when it is linked or invited, with the
// account's password once to link an existing account, or with a name for a new org.
// Nothing secret is in the address: the server's HttpOnly cookie names the sign-in.
var GOOGLE_ERRORS = {
  bad_state: 'This sign-in was not started in this browser. Try again.',
  flow_expired: 'This sign-in took too long or was already used. Try again.',
  denied: 'Google sign-in was cancelled.',
  email_unverified: 'Google has not verified this email address.',
  linked_elsewhere: 'This email address is linked to another Google account.',
  invite_email_mismatch: 'The invitation was sent to another email address than this Google account\'s.',
  provider_unavailable: 'Google could not be reached. Try again later.',
  code_refused: 'Google refused this sign-in. Try again.',
  bad_signature: 'Google\'s answer could not be verified.',
  expired: 'Google\'s answer had expired. Try again.',
  bad_nonce: 'Google\'s answer did not belong to this sign-in.',
  bad_claims: 'Google\'s answer could not be verified.'
};

function openGoogleSignIn(onSignedIn) {
  var $ = function (id) { return document.getElementById(id); };
  var invite = /^#invite=([A-Za-z0-9_-]{1,256})$/.exec(location.hash);
  requestJSON('GET', '/v1/auth/methods', null).then(function (m) {
    if (!m.google) return;
    $('google-signin').hidden = false;
    if (invite) {
      $('link-google').href = '/v1/auth/google/start?invite=' + encodeURIComponent(invite[1]);
      $('link-google').hidden = false;
    }
  }, function () {});

  var back = /^#google(?:_error=([a-z_]{1,40}))?$/.exec(location.hash);
  if (!back) return false;
  history.replaceState(null, '', location.pathname + location.search);
  if (back[1]) {
    $('login-error').textContent = GOOGLE_ERRORS[back[1]] || 'Google sign-in did not work. Try again.';
    return true;
  }
  var step = null;

  function complete(body) {
    $('google-error').textContent = '';
    return requestJSON('POST', '/v1/auth/google/complete', null, body).then(function (s) {
      $('google-view').hidden = true;
      onSignedIn(s);
    }, function (err) {
      $('google-error').textContent = err.status === 401 ? 'Wrong password.' : err.message;
    });
  }

  function show(title, text) {
    $('login-view').hidden = true;
    $('google-view').hidden = false;
    $('google-title').textContent = title;
    $('google-message').textContent = text;
  }

  requestJSON('GET', '/v1/auth/google/pending', null).then(function (p) {
    step = p.step;
    if (step === 'signed_in' || step === 'invited') return complete({});
    if (step === 'link') {
      show('Link your Google account', 'An account for ' + p.email + ' exists. Enter its password once to sign in with Google from now on.');
      $('google-password-row').hidden = false;
      $('google-password').focus();
    } else {
      show('Create your organisation', 'Signed in with Google as ' + p.email + '. Name your organisation to start.');
      $('google-org-row').hidden = false;
      $('google-org').focus();
    }
  }, function () {
    $('login-error').textContent = GOOGLE_ERRORS.flow_expired;
  });

  $('google-form').addEventListener('submit', function (e) {
    e.preventDefault();
    if (step === 'link') complete({ password: $('google-password').value });
    else complete({ org_name: $('google-org').value.trim() });
  });
  return true;
}
