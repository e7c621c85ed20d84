// Full-jitter exponential backoff: a crowd of clients that lost the same server
// spreads out instead of returning in lockstep and knocking it over again.
function createBackoff(baseMs, capMs) {
  var attempt = 0;
  return {
    next: function () {
      var d = Math.random() * Math.min(capMs, baseMs * Math.pow(2, attempt));
      attempt = Math.min(attempt + 1, 16);
      return d;
    },
    reset: function () { attempt = 0; },
    bump: function (n) { attempt = Math.max(attempt, n); }
  };
}
