// Close and error codes: the mirror of server/protocol/codes.py (CloseCode, ErrorCode),
// the one place the widget and the console take them from. tests/protocol/test_codes_js.py
// compares the two tables, so a code added on one side fails until the other has it.
var CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  RESTARTING: 1012,
  TRY_AGAIN_LATER: 1013,
  UNAUTHORIZED: 4001,
  FORBIDDEN: 4003,
  POLICY: 4008
};

// The browser's own: the socket ended without a close frame. No server sends it.
var CLOSE_ABNORMAL = 1006;

var ERROR = {
  BAD_FRAME: 'bad_frame',
  UNKNOWN_TYPE: 'unknown_type',
  TOO_LONG: 'too_long',
  RATE_LIMITED: 'rate_limited',
  QUOTA_EXCEEDED: 'quota_exceeded',
  NOT_FOUND: 'not_found',
  FORBIDDEN: 'forbidden',
  UNAVAILABLE: 'unavailable',
  CONFLICT: 'conflict'
};

// What a close means here (contract §3). `retry` says whether coming back can help;
// `why` names the string shown when it cannot; `slow` starts the backoff further up
// because the server asked us to calm down; `restart` is a deploy: come back soon, to
// whichever process answers. A code not listed reconnects with backoff.
var CLOSE_INFO = {};
CLOSE_INFO[CLOSE.NORMAL] = { retry: true };
CLOSE_INFO[CLOSE.GOING_AWAY] = { retry: true };
CLOSE_INFO[CLOSE_ABNORMAL] = { retry: true };
// Texts are capped client-side, so a retry will not repeat it.
CLOSE_INFO[CLOSE.TOO_BIG] = { retry: true };
CLOSE_INFO[CLOSE.INTERNAL_ERROR] = { retry: true };
CLOSE_INFO[CLOSE.RESTARTING] = { retry: true, restart: true };
CLOSE_INFO[CLOSE.TRY_AGAIN_LATER] = { retry: true, slow: true };
CLOSE_INFO[CLOSE.UNAUTHORIZED] = { retry: false, why: 'unauthorized' };
CLOSE_INFO[CLOSE.FORBIDDEN] = { retry: false, why: 'forbidden' };
CLOSE_INFO[CLOSE.POLICY] = { retry: true, slow: true };

function closeInfo(code) {
  return CLOSE_INFO[code] || { retry: true };
}
