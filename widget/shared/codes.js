// Close codes mirrored from the server's table (contract §3). `retry` says
// whether coming back can help; `why` names the string shown when it cannot;
// `slow` starts the backoff further up because the server asked us to calm down.
var CLOSE_CODES = {
  1000: { retry: true },
  1001: { retry: true },
  1006: { retry: true },
  // Frame too big: texts are capped client-side, so a retry will not repeat it.
  1009: { retry: true },
  1011: { retry: true },
  // Server restarting or draining: come back soon, to whichever process answers.
  1012: { retry: true, restart: true },
  1013: { retry: true, slow: true },
  4001: { retry: false, why: 'unauthorized' },
  4003: { retry: false, why: 'forbidden' },
  4008: { retry: true, slow: true }
};

function closeInfo(code) {
  return CLOSE_CODES[code] || { retry: true };
}
