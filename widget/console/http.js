// The console's plain HTTP calls. The token is handed in from memory and travels
// only in the Authorization header, never in a URL or in storage.
function requestJSON(method, path, token, body) {
  // The CSRF header the server asks of cookie-authenticated writes (server/http/csrf.py):
  // sent on every call, so a switch to the session cookie needs no change here.
  var headers = { accept: 'application/json', 'x-clienta-csrf': '1' };
  if (token) headers.authorization = 'Bearer ' + token;
  if (body) headers['content-type'] = 'application/json';
  return fetch(path, {
    method: method,
    headers: headers,
    body: body ? JSON.stringify(body) : undefined,
    credentials: 'same-origin',
    cache: 'no-store'
  }).then(function (r) {
    return r.json().catch(function () { return {}; }).then(function (j) {
      if (r.ok) return j;
      var err = new Error((j && j.error && j.error.message) || 'HTTP ' + r.status);
      err.status = r.status;
      throw err;
    });
  });
}

function logIn(email, password) {
  return requestJSON('POST', '/v1/login', null, { email: email, password: password });
}

// Canned responses are a convenience: a server without them leaves an empty list.
function fetchCanned(token) {
  return requestJSON('GET', '/v1/canned', token).then(function (j) {
    return Array.isArray(j.canned) ? j.canned : [];
  }, function () { return []; });
}
