// One websocket that keeps coming back: full-jitter backoff, the mirrored close
// code table, and a heartbeat so a half-open socket (laptop lid, NAT timeout)
// is noticed instead of silently swallowing messages.
var PING_MS = 25000;
var SILENCE_MS = 60000;

function createConnection(url, on) {
  var ws = null, timer = null, beat = null, stopped = true, lastRx = 0;
  var backoff = createBackoff(500, 30000);

  function connect() {
    clearTimeout(timer);
    timer = null;
    if (stopped || ws) return;
    var s;
    try {
      s = new WebSocket(url, SUBPROTOCOL);
    } catch (e) {
      return retry({ retry: true });
    }
    ws = s;
    s.onopen = function () {
      lastRx = Date.now();
      on.open();
    };
    s.onmessage = function (ev) {
      lastRx = Date.now();
      var f = decodeFrame(ev.data);
      if (f) on.frame(f);
    };
    // onerror is always followed by onclose, which does the work.
    s.onclose = function (ev) { lost(s, ev.code); };
  }

  function lost(s, code) {
    if (ws !== s) return;
    ws = null;
    s.onopen = s.onmessage = s.onclose = null;
    var info = closeInfo(code);
    // Stopped before the callback, so the callback may start us afresh.
    if (!info.retry) stopped = true;
    on.close(code, info);
    if (info.retry) retry(info);
  }

  function retry(info) {
    if (stopped) return;
    if (info.slow) backoff.bump(4);
    if (info.restart) backoff.restarting();
    clearTimeout(timer);
    timer = setTimeout(connect, backoff.next());
  }

  function tick() {
    if (!ws || ws.readyState !== 1) return;
    if (Date.now() - lastRx > SILENCE_MS) {
      // Closing a half-open socket waits for a handshake that never comes.
      var s = ws;
      try { s.close(); } catch (e) { /* already closing */ }
      return lost(s, CLOSE_ABNORMAL);
    }
    send({ t: 'ping' });
  }

  function send(frame) {
    if (!ws || ws.readyState !== 1) return false;
    ws.send(encodeFrame(frame));
    return true;
  }

  window.addEventListener('online', function () {
    if (!stopped && !ws) connect();
  });

  return {
    send: send,
    start: function () {
      if (!stopped) return;
      stopped = false;
      if (!beat) beat = setInterval(tick, PING_MS);
      connect();
    },
    stop: function () {
      stopped = true;
      clearTimeout(timer);
      clearInterval(beat);
      beat = null;
      var s = ws;
      ws = null;
      if (s) {
        s.onopen = s.onmessage = s.onclose = null;
        try { s.close(CLOSE.NORMAL); } catch (e) { /* already closed */ }
      }
    },
    // Called once the server has welcomed us: only then is the link proven healthy.
    healthy: function () { backoff.reset(); },
    // Drop the socket and dial again at once (used when resume state was stale).
    redial: function () {
      var s = ws;
      if (s) {
        try { s.close(CLOSE.NORMAL); } catch (e) { /* already closed */ }
        lost(s, CLOSE.NORMAL);
      }
      clearTimeout(timer);
      connect();
    },
    running: function () { return !stopped; }
  };
}
