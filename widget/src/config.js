// Configuration from the embedding tag. document.currentScript is only set while
// this script first runs, so it is read here, synchronously, before anything waits.
var SCRIPT = document.currentScript || document.querySelector('script[data-site-key][src*="widget.js"]');

function readConfig(el) {
  var d = (el && el.dataset) || {};
  // The server: the tag's data-server, else the one a static build named (a CDN
  // serves this file), else wherever this file came from, never the embedding page.
  var src = new URL(d.server || CLIENTA_SERVER || (el && el.src) || location.href, location.href);
  return {
    siteKey: d.siteKey || '',
    locale: d.locale || '',
    color: d.color || '',
    // '' for an attribute not given: the org's setting (GET /v1/widget/config) fills it
    position: d.position === 'left' || d.position === 'right' ? d.position : '',
    title: (d.title || '').slice(0, 80),
    http: src.origin,
    ws: (src.protocol === 'https:' ? 'wss://' : 'ws://') + src.host
  };
}

// The org's look and opening hours, asked once before mounting: the tag's own attributes
// win, and a slow or failed answer (3 s) leaves the widget's defaults.
function loadServerConfig(cfg, done) {
  var finish = function (j) {
    var w = (j && j.widget) || {};
    cfg.color = cfg.color || w.color || '';
    cfg.title = cfg.title || String(w.title || '').slice(0, 80);
    cfg.position = cfg.position || (w.position === 'left' ? 'left' : 'right');
    cfg.locale = cfg.locale || w.locale || '';
    // outside business hours: the org's offline message (or ours) and the email field
    cfg.offline = j && j.open === false ? String(j.offline_message || '') || true : false;
    // the org's privacy notice, shown before the first message (privacy.js)
    cfg.notice = j && j.notice && j.notice.version && j.notice.text ? j.notice : null;
    finish = function () {};
    done();
  };
  if (!cfg.siteKey || !window.fetch) return finish(null);
  var timer = setTimeout(function () { finish(null); }, 3000);
  fetch(cfg.http + '/v1/widget/config?site_key=' + encodeURIComponent(cfg.siteKey), { credentials: 'omit' })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (j) { clearTimeout(timer); finish(j); }, function () { clearTimeout(timer); finish(null); });
}
