// Full-jitter exponential backoff: a crowd of clients that lost the same server
// spreads out instead of returning in lockstep and knocking it over again.
// After 1012 (a restart or deploy) the next tries come at a steady 0.25-1.25 s
// instead: the server said it is coming back, and growing waits would keep
// visitors offline long after it has (a refused connection costs it nothing).
var RESTART_TRIES = 10;
var RESTART_MIN_MS = 250;
var RESTART_SPAN_MS = 1000;

function createBackoff(baseMs, capMs) {
  var attempt = 0;
  var steady = 0;
  return {
    next: function () {
      if (steady > 0) {
        steady -= 1;
        return RESTART_MIN_MS + Math.random() * RESTART_SPAN_MS;
      }
      var d = Math.random() * Math.min(capMs, baseMs * Math.pow(2, attempt));
      attempt = Math.min(attempt + 1, 16);
      return d;
    },
    reset: function () { attempt = 0; steady = 0; },
    bump: function (n) { attempt = Math.max(attempt, n); },
    restarting: function () { steady = RESTART_TRIES; attempt = Math.max(attempt, 3); }
  };
}
