// The console's languages (English, Thai). Each screen adds its own strings with
// addStrings({en: {...}, th: {...}}) so screens never edit one shared table; a missing
// Thai string falls back to English, a missing key to the key. `{}` takes the argument.
// Elements marked data-i18n="key" (text), data-i18n-placeholder or data-i18n-label
// (aria-label) are translated by translatePage, and again on every switch.
var CONSOLE_LOCALES = ['en', 'th'];
var CONSOLE_STRINGS = { en: {}, th: {} };
var consoleLang = { current: 'en', listeners: [] };

function addStrings(table) {
  CONSOLE_LOCALES.forEach(function (l) { Object.assign(CONSOLE_STRINGS[l], table[l] || {}); });
}

function tr(key, arg) {
  var s = CONSOLE_STRINGS[consoleLang.current][key];
  if (s === undefined) s = CONSOLE_STRINGS.en[key];
  if (s === undefined) s = key;
  return arg === undefined ? s : s.replace('{}', String(arg));
}

function translatePage(root) {
  (root || document).querySelectorAll('[data-i18n]').forEach(function (n) { n.textContent = tr(n.dataset.i18n); });
  (root || document).querySelectorAll('[data-i18n-placeholder]').forEach(function (n) { n.placeholder = tr(n.dataset.i18nPlaceholder); });
  (root || document).querySelectorAll('[data-i18n-label]').forEach(function (n) { n.setAttribute('aria-label', tr(n.dataset.i18nLabel)); });
}

// The choice is kept in localStorage (a language, nothing personal); else the browser's.
function pickConsoleLocale() {
  var saved = '';
  try { saved = localStorage.getItem('clienta:console-lang') || ''; } catch (e) { saved = ''; }
  if (CONSOLE_LOCALES.indexOf(saved) >= 0) return saved;
  var nav = (navigator.languages || [navigator.language || 'en'])[0] || 'en';
  return nav.slice(0, 2).toLowerCase() === 'th' ? 'th' : 'en';
}

function setConsoleLocale(lang) {
  consoleLang.current = CONSOLE_LOCALES.indexOf(lang) >= 0 ? lang : 'en';
  try { localStorage.setItem('clienta:console-lang', consoleLang.current); } catch (e) { /* private mode */ }
  document.documentElement.lang = consoleLang.current;
  translatePage();
  consoleLang.listeners.forEach(function (cb) { cb(consoleLang.current); });
}

function onLocaleChange(cb) { consoleLang.listeners.push(cb); }
