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
    position: d.position === 'left' ? 'left' : 'right',
    title: (d.title || '').slice(0, 80),
    http: src.origin,
    ws: (src.protocol === 'https:' ? 'wss://' : 'ws://') + src.host
  };
}
