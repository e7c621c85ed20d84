// The one global, Clienta(command, ...args). Calls made before this file loaded
// wait in Clienta.q (the snippet in docs/widget.md) and run here, in order.
function startWidget() {
  var cfg = readConfig(SCRIPT);
  var listeners = { message: [], open: [], close: [], mode: [] }, chat = null, early = [];

  function emit(ev, data) {
    listeners[ev].forEach(function (cb) {
      // A bug in the host's callback must not break the chat; rethrown so it is seen.
      try { cb(data); } catch (e) { setTimeout(function () { throw e; }); }
    });
  }

  var commands = {
    open: function () { chat.open(); },
    close: function () { chat.close(); },
    identify: function (who) { chat.identify(who); },
    reset: function () { chat.reset(); },
    on: function (ev, cb) {
      if (listeners[ev] && typeof cb === 'function') listeners[ev].push(cb);
    }
  };

  function run(args) {
    var name = args[0];
    if (!commands.hasOwnProperty(name)) return console.warn('Clienta: unknown command', name);
    if (!chat && name !== 'on') return early.push(args);
    commands[name].apply(null, Array.prototype.slice.call(args, 1));
  }

  var queued = (window.Clienta && window.Clienta.q) || [];
  var api = function () { run(arguments); };
  api.loaded = true;
  window.Clienta = api;
  for (var i = 0; i < queued.length; i++) run(queued[i]);

  function ready() {
    loadServerConfig(cfg, function () {
      var locale = pickLocale(cfg.locale);
      chat = createChat(cfg, createStore(cfg.siteKey), locale, translator(locale), emit);
      early.splice(0).forEach(run);
    });
  }
  // An async tag in <head> can run before <body> exists.
  if (document.body) ready();
  else document.addEventListener('DOMContentLoaded', ready);
}

// A second copy of the tag must not mount a second widget.
if (!(window.Clienta && window.Clienta.loaded)) startWidget();
