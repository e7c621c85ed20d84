// Frames of clienta.v1.json (contract §3): one JSON map per text frame, typed by `t`.
var SUBPROTOCOL = 'clienta.v1.json';

function encodeFrame(frame) {
  return JSON.stringify(frame);
}

// Anything that is not a JSON map with a string `t` is dropped, not thrown:
// a newer server may send frames this client does not know yet.
function decodeFrame(data) {
  if (typeof data !== 'string') return null;
  try {
    var f = JSON.parse(data);
    return f && typeof f === 'object' && typeof f.t === 'string' ? f : null;
  } catch (e) {
    return null;
  }
}

function newClientId() {
  var c = window.crypto;
  if (c && c.randomUUID) return c.randomUUID();
  var b = new Uint8Array(16);
  c.getRandomValues(b);
  return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
}
