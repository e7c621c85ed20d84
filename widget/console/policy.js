// The banner of a coming material change of the privacy policy (GET /v1/policy, public),
// for every console user until they dismiss that version (issue 18 point 6). Its words are
// in privacy.js's table.
function createPolicyBanner() {
  var $ = function (id) { return document.getElementById(id); };
  function button(parent, key, fn, id) {
    var b = parent.appendChild(el('button', null, tr(key)));
    b.dataset.i18n = key;
    b.type = 'button';
    b.id = id;
    b.addEventListener('click', fn);
    return b;
  }
  var banner = el('p', 'banner');
  banner.id = 'policy-banner';
  banner.setAttribute('role', 'status');
  banner.hidden = true;
  $('verify-banner').after(banner);
  var bannerText = banner.appendChild(el('span'));
  function dismissed() { try { return localStorage.getItem('clienta:policy-dismissed') || ''; } catch (e) { return ''; } }
  function policy() {
    requestJSON('GET', '/v1/policy', null).then(function (j) {
      var up = j.upcoming;
      banner.dataset.checked = up ? up.version : '';
      if (!up || dismissed() === up.version) return;
      bannerText.textContent = tr('policy.change', up.effective_on) + (up.summary ? ' ' + up.summary : '') + ' ';
      banner.dataset.version = up.version;
      banner.hidden = false;
    }, function () {});
  }
  button(banner, 'policy.dismiss', function () {
    // a choice about a published version, nothing personal: kept in this browser
    try { localStorage.setItem('clienta:policy-dismissed', banner.dataset.version); } catch (e) { /* private mode */ }
    banner.hidden = true;
  }, 'policy-dismiss');

  onLocaleChange(function () {
    translatePage(banner);
    if (!banner.hidden) policy();
  });

  return function (on) {
    banner.hidden = true;
    if (on) policy();
  };
}
