// Sign-up and sign-in pages in English and Thai, and the language switch (login pages and
// the console's header). Sign-up is POST /v1/signup; its answer is a signed-in owner,
// handed to main.js like a login. The password rules are the server's: its refusal is
// shown, in Thai too for the rules it has. Every value goes in through textContent.
addStrings({
  en: {
    'lang.label': 'Language',
    'auth.login.title': 'Clienta console',
    'auth.email': 'Email',
    'auth.password': 'Password',
    'auth.login': 'Log in',
    'auth.wrong': 'Wrong email or password.',
    'auth.to.signup': 'New here? Create an account',
    'auth.signup.title': 'Create your Clienta account',
    'auth.signup.sub': 'One organisation, you as its owner. You can invite your team next.',
    'auth.org': 'Organisation name',
    'auth.name': 'Your name',
    'auth.newpassword': 'Password (at least 10 characters, not a common one)',
    'auth.signup': 'Create account',
    'auth.to.login': 'Already have an account? Log in',
    'auth.busy': 'Please wait…',
    'auth.missing': 'Please fill in every field.',
    'auth.taken': 'An account with this email already exists. Log in instead.',
    'auth.slow': 'Too many attempts from this network. Try again in a little while.'
  },
  th: {
    'lang.label': 'ภาษา',
    'auth.login.title': 'คอนโซล Clienta',
    'auth.email': 'อีเมล',
    'auth.password': 'รหัสผ่าน',
    'auth.login': 'เข้าสู่ระบบ',
    'auth.wrong': 'อีเมลหรือรหัสผ่านไม่ถูกต้อง',
    'auth.to.signup': 'ยังไม่มีบัญชี? สมัครใช้งาน',
    'auth.signup.title': 'สร้างบัญชี Clienta',
    'auth.signup.sub': 'หนึ่งองค์กร โดยคุณเป็นเจ้าของ เชิญทีมของคุณได้ในขั้นถัดไป',
    'auth.org': 'ชื่อองค์กร',
    'auth.name': 'ชื่อของคุณ',
    'auth.newpassword': 'รหัสผ่าน (อย่างน้อย 10 ตัวอักษร และไม่ใช่รหัสที่ใช้กันทั่วไป)',
    'auth.signup': 'สร้างบัญชี',
    'auth.to.login': 'มีบัญชีอยู่แล้ว? เข้าสู่ระบบ',
    'auth.busy': 'กรุณารอสักครู่…',
    'auth.missing': 'กรุณากรอกข้อมูลให้ครบทุกช่อง',
    'auth.taken': 'อีเมลนี้มีบัญชีอยู่แล้ว กรุณาเข้าสู่ระบบแทน',
    'auth.slow': 'มีการลองหลายครั้งเกินไปจากเครือข่ายนี้ กรุณาลองใหม่ภายหลัง',
    'auth.pw.short': 'รหัสผ่านต้องมีอย่างน้อย {} ตัวอักษร',
    'auth.pw.long': 'รหัสผ่านยาวเกินไป (ไม่เกิน {} ตัวอักษร)',
    'auth.pw.common': 'รหัสผ่านนี้เป็นรหัสที่ใช้กันมาก กรุณาเลือกรหัสอื่น',
    'auth.pw.repeat': 'รหัสผ่านต้องไม่ใช่ตัวอักษรเดียวซ้ำกัน',
    'auth.pw.email': 'รหัสผ่านต้องไม่ใช่อีเมลของคุณหรือชื่อหน้าอีเมล'
  }
});

// The server's password refusals (server/domain/passwords.py), said in the chosen language.
function passwordMessage(message) {
  if (consoleLang.current === 'en') return message;
  var m = /at least (\d+) characters/.exec(message);
  if (m) return tr('auth.pw.short', m[1]);
  m = /at most (\d+) characters/.exec(message);
  if (m) return tr('auth.pw.long', m[1]);
  if (/most common passwords/.test(message)) return tr('auth.pw.common');
  if (/one character repeated/.test(message)) return tr('auth.pw.repeat');
  if (/email address/.test(message)) return tr('auth.pw.email');
  return message;
}

function languageSwitch(id) {
  var label = el('label', 'lang');
  label.appendChild(el('span', null, tr('lang.label'))).dataset.i18n = 'lang.label';
  var select = label.appendChild(el('select'));
  select.id = id;
  [['en', 'English'], ['th', 'ไทย']].forEach(function (o) {
    var opt = select.appendChild(el('option', null, o[1]));
    opt.value = o[0];
    opt.lang = o[0];
  });
  select.value = consoleLang.current;
  select.addEventListener('change', function () { setConsoleLocale(select.value); });
  onLocaleChange(function (l) { select.value = l; });
  return label;
}

function openAuthPages(signedIn) {
  var $ = function (id) { return document.getElementById(id); };
  function mark(node, key) { node.dataset.i18n = key; node.textContent = tr(key); return node; }

  // the static login page, translated in place
  var login = $('login-form');
  mark(login.querySelector('h1'), 'auth.login.title');
  mark(login.querySelector('label[for=login-email]'), 'auth.email');
  mark(login.querySelector('label[for=login-password]'), 'auth.password');
  mark(login.querySelector('button[type=submit]'), 'auth.login');
  var toSignup = el('button', 'linkish');
  toSignup.type = 'button';
  toSignup.id = 'to-signup';
  login.appendChild(mark(toSignup, 'auth.to.signup'));
  $('login-view').prepend(languageSwitch('lang-login'));
  $('logout').before(languageSwitch('lang-app'));

  var page = el('main', 'login');
  page.id = 'signup-view';
  page.hidden = true;
  page.appendChild(languageSwitch('lang-signup'));
  var form = page.appendChild(el('form'));
  form.id = 'signup-form';
  form.noValidate = true;
  form.appendChild(mark(el('h1'), 'auth.signup.title'));
  form.appendChild(mark(el('p', 'sub'), 'auth.signup.sub'));
  function field(id, key, type, auto, max) {
    var label = form.appendChild(mark(el('label'), key));
    label.htmlFor = id;
    var input = form.appendChild(el('input'));
    input.id = id;
    input.type = type;
    input.autocomplete = auto;
    input.maxLength = max;
    input.required = true;
    return input;
  }
  var org = field('signup-org', 'auth.org', 'text', 'organization', 200);
  var name = field('signup-name', 'auth.name', 'text', 'name', 200);
  var email = field('signup-email', 'auth.email', 'email', 'email', 320);
  var password = field('signup-password', 'auth.newpassword', 'password', 'new-password', 4096);
  var submit = form.appendChild(mark(el('button'), 'auth.signup'));
  submit.type = 'submit';
  var error = form.appendChild(el('p', 'error'));
  error.id = 'signup-error';
  error.setAttribute('role', 'alert');
  var toLogin = form.appendChild(mark(el('button', 'linkish'), 'auth.to.login'));
  toLogin.type = 'button';
  toLogin.id = 'to-login';
  $('login-view').after(page);

  function showSignup(on) {
    page.hidden = !on;
    $('login-view').hidden = on;
    (on ? org : $('login-email')).focus();
  }
  toSignup.addEventListener('click', function () { showSignup(true); });
  toLogin.addEventListener('click', function () { showSignup(false); });

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    error.textContent = '';
    if (!org.value.trim() || !email.value.trim() || !password.value) {
      error.textContent = tr('auth.missing');
      return;
    }
    submit.disabled = true;
    submit.textContent = tr('auth.busy');
    requestJSON('POST', '/v1/signup', null, {
      org_name: org.value.trim(), name: name.value.trim(), email: email.value.trim(),
      password: password.value, locale: consoleLang.current
    }).then(function (out) {
      password.value = '';
      page.hidden = true;
      signedIn({ token: out.token, user_id: out.user_id, org_id: out.org_id, role: 'owner' });
    }, function (err) {
      error.textContent = err.status === 409 ? tr('auth.taken') : err.status === 429 ? tr('auth.slow')
        : passwordMessage(err.message);
    }).then(function () {
      submit.disabled = false;
      submit.textContent = tr('auth.signup');
    });
  });

  // #signup opens the sign-up page directly (a link from the website)
  if (location.hash === '#signup') showSignup(true);
}
