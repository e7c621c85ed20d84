// What survives a reload, in localStorage under one key per site key: the
// visitor token, the resume point (conversation, last seq), the outbox of
// unacknowledged messages and a short transcript cache to redraw at once.
var HISTORY_MAX = 60;
var HISTORY_CHARS = 40000;

function createStore(siteKey) {
  var key = 'clienta:' + siteKey;
  var data = blank();
  try {
    var saved = JSON.parse(localStorage.getItem(key));
    if (saved && typeof saved === 'object') Object.assign(data, saved);
  } catch (e) { /* unreadable or disabled storage: start fresh */ }

  function blank() {
    return { token: null, conv: null, seq: 0, outbox: [], history: [], who: null, rated: null, emailed: null, consent: null, restricted: 0 };
  }

  function save() {
    try {
      localStorage.setItem(key, JSON.stringify(data));
    } catch (e) { /* quota or private mode: keep working from memory */ }
  }

  return {
    data: data,
    save: save,
    remember: function (m) {
      var h = data.history;
      h.push(m);
      // Bounded by count and by size: the host page shares this storage quota.
      var chars = 0;
      for (var i = h.length - 1; i >= 0; i--) {
        chars += (h[i].text || '').length;
        if (chars > HISTORY_CHARS || h.length - i > HISTORY_MAX) {
          h.splice(0, i + 1);
          break;
        }
      }
    },
    unqueue: function (id) {
      var o = data.outbox;
      for (var i = 0; i < o.length; i++) {
        if (o[i].id === id) return o.splice(i, 1)[0];
      }
      return null;
    },
    newConversation: function (conv) {
      data.conv = conv;
      data.seq = 0;
    },
    reset: function () {
      Object.assign(data, blank());
      try { localStorage.removeItem(key); } catch (e) { /* nothing to remove */ }
    }
  };
}
