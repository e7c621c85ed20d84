// The billing page (owners and admins; owners act): the plan and its period, usage this
// period against the plan's limits as CSS bars, invoices, choose or change a plan (Stripe
// prorates), the customer portal, cancel at period end; a banner near a limit. With no
// payment keys the page says billing is not configured. It builds its own button and
// section (no markup in console.html); every value goes in through textContent. Omise's
// card payments: Omise.js (loaded only then; the CSP allows it only then) sends the card
// from this browser to Omise's vault and answers a one-time token, which is all we post.
var BILLING_METRICS = {
  ai_answers: 'AI answers this period', seats: 'Seats', kb_documents: 'Knowledge-base documents',
  concurrent_conversations: 'Open conversations'
};

function createBillingView(token, role) {
  var $ = function (id) { return document.getElementById(id); };
  var state = null;

  var button = el('button', null, 'Billing');
  button.id = 'billing-toggle';
  button.type = 'button';
  button.hidden = true;
  $('logout').before(button);
  var banner = el('p', 'banner');
  banner.id = 'billing-banner';
  banner.setAttribute('role', 'status');
  banner.hidden = true;
  $('desk-lists').before(banner);
  var section = el('section', 'audit billing');
  section.id = 'billing';
  section.setAttribute('aria-label', 'Billing');
  section.hidden = true;
  $('app').appendChild(section);

  function money(amount, currency) {
    return (amount / 100).toFixed(2) + ' ' + String(currency || '').toUpperCase();
  }

  function day(iso) { return iso ? new Date(iso).toLocaleDateString() : ''; }

  function status(text) { $('billing-status').textContent = text; }

  function act(method, path, body) {
    status('Working…');
    return requestJSON(method, path, token(), body).then(function (j) {
      if (j && j.url) { window.location.assign(j.url); return; }
      return load();
    }, function (err) { status('Error: ' + err.message); });
  }

  // PromptPay (Omise): the QR Omise made, shown as an <img> (an SVG in an image runs no
  // script), then the charge polled until the API says it finished
  var polling = null;

  function stopPolling() { if (polling) { clearTimeout(polling); polling = null; } }

  function promptpay(plan) {
    stopPolling();
    status('Working…');
    requestJSON('POST', '/v1/billing/checkout', token(),
                { plan: plan, provider: 'omise', method: 'promptpay' }).then(function (j) {
      var box = $('billing-qr-box');
      box.hidden = false;
      box.replaceChildren(el('p', null, 'Scan with your bank app to pay for ' + plan + ':'));
      var img = box.appendChild(el('img'));
      img.id = 'billing-qr';
      img.alt = 'PromptPay QR code';
      img.src = 'data:image/svg+xml;base64,' + btoa(unescape(encodeURIComponent(j.qr_svg)));
      status('Waiting for the payment…');
      var check = function () {
        requestJSON('GET', '/v1/billing/charges/' + encodeURIComponent(j.charge_id), token())
          .then(function (c) {
            if (c.status === 'pending') { polling = setTimeout(check, 2000); return; }
            polling = null;
            box.hidden = true;
            load().then(function () {
              status(c.paid ? 'Paid: thank you.' : 'The payment did not go through (' +
                c.status + ').');
            });
          }, function () { polling = setTimeout(check, 5000); });
      };
      polling = setTimeout(check, 1000);
    }, function (err) { status('Error: ' + err.message); });
  }

  // Omise.js, loaded once from the address the server names (and its CSP allows)
  var omiseLoading = null;

  function loadOmise(provider) {
    if (!omiseLoading) {
      omiseLoading = new Promise(function (resolve, reject) {
        var script = document.createElement('script');
        script.src = provider.js_url;
        script.onload = function () {
          if (!window.Omise) { reject(new Error('Omise.js did not load')); return; }
          window.Omise.setPublicKey(provider.public_key);
          resolve(window.Omise);
        };
        script.onerror = function () {
          omiseLoading = null;
          reject(new Error('Omise.js could not be loaded'));
        };
        document.head.appendChild(script);
      });
    }
    return omiseLoading;
  }

  function field(form, name, label, attrs) {
    var wrap = form.appendChild(el('label', 'card-field', label));
    var input = wrap.appendChild(el('input'));
    input.name = name;
    input.id = 'billing-card-' + name;
    input.required = true;
    input.autocomplete = attrs.autocomplete;
    if (attrs.inputmode) input.inputMode = attrs.inputmode;
    if (attrs.size) input.size = attrs.size;
    return input;
  }

  // the card form: its values go to Omise's vault only (Omise.createToken), never to us
  function cardForm(plan, provider) {
    stopPolling();
    var box = $('billing-qr-box');
    box.hidden = false;
    box.replaceChildren(el('p', null, 'Pay for ' + plan + ' by card (Omise):'));
    var form = box.appendChild(el('form', 'card-form'));
    form.id = 'billing-card-form';
    var inputs = {
      name: field(form, 'name', 'Name on the card', { autocomplete: 'cc-name' }),
      number: field(form, 'number', 'Card number', { autocomplete: 'cc-number',
                                                     inputmode: 'numeric' }),
      expiration_month: field(form, 'month', 'Month (MM)', { autocomplete: 'cc-exp-month',
                                                             inputmode: 'numeric', size: 2 }),
      expiration_year: field(form, 'year', 'Year (YYYY)', { autocomplete: 'cc-exp-year',
                                                            inputmode: 'numeric', size: 4 }),
      security_code: field(form, 'cvc', 'Security code', { autocomplete: 'cc-csc',
                                                           inputmode: 'numeric', size: 4 })
    };
    var pay = form.appendChild(el('button', null, 'Pay'));
    pay.type = 'submit';
    pay.id = 'billing-card-pay';
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var card = {};
      Object.keys(inputs).forEach(function (k) { card[k] = inputs[k].value.trim(); });
      pay.disabled = true;
      status('Working…');
      loadOmise(provider).then(function (Omise) {
        Omise.createToken('card', card, function (code, answer) {
          // the card's details leave the page's memory with the form
          Object.keys(inputs).forEach(function (k) { inputs[k].value = ''; });
          card = null;
          if (code !== 200 || !answer || answer.object === 'error') {
            pay.disabled = false;
            status('The card was refused: ' + ((answer && answer.message) || 'try again'));
            return;
          }
          requestJSON('POST', '/v1/billing/checkout', token(), { plan: plan,
            provider: 'omise', method: 'card', token: answer.id }).then(function (j) {
            if (j && j.url) { window.location.assign(j.url); return; }  // 3-D Secure
            box.hidden = true;
            load().then(function () {
              status(j.status === 'successful' ? 'Paid: thank you.' :
                'The payment did not go through (' + j.status + ').');
            });
          }, function (err) { pay.disabled = false; status('Error: ' + err.message); });
        });
      }, function (err) { pay.disabled = false; status('Error: ' + err.message); });
    });
    inputs.name.focus();
  }

  function bar(metric, used, limit) {
    var row = el('div', 'meter');
    row.dataset.metric = metric;
    row.appendChild(el('span', 'meter-label', BILLING_METRICS[metric] || metric));
    var track = row.appendChild(el('span', 'meter-track'));
    var fill = track.appendChild(el('span', 'meter-fill'));
    var share = limit ? Math.min(1, used / limit) : 0;
    fill.style.width = Math.round(share * 100) + '%';
    fill.className = 'meter-fill' + (share >= 1 ? ' full' : share >= 0.8 ? ' near' : '');
    row.appendChild(el('span', 'meter-value', used + ' / ' + limit));
    return row;
  }

  function planButtons(s) {
    var box = el('div', 'plans');
    var owner = role() === 'owner';
    var subscribed = s.status === 'active' || s.status === 'trialing' || s.status === 'past_due';
    var names = (s.providers || []).map(function (p) { return p.name; });
    var stripe = names.indexOf('stripe') >= 0 || !names.length;
    var omise = names.indexOf('omise') >= 0;
    var omiseCards = (s.providers || []).filter(function (p) {
      return p.name === 'omise' && p.public_key && p.js_url;
    })[0];
    var viaOmise = s.provider === 'omise';
    (s.plans || []).forEach(function (p) {
      if (p.plan === 'free') return;
      var label = p.plan + ' · ' + money(p.usd_cents, 'usd') + ' / ' + money(p.thb_satang, 'thb') +
        ' a month · ' + p.limits.ai_answers + ' AI answers';
      var b = box.appendChild(el('button', null, (p.plan === s.subscribed_plan && subscribed ?
        'Current: ' : (subscribed ? 'Switch to ' : 'Choose ')) + label));
      b.type = 'button';
      b.dataset.plan = p.plan;
      b.disabled = !owner || !s.configured || (subscribed && p.plan === s.subscribed_plan);
      b.hidden = !subscribed && !stripe;
      b.addEventListener('click', function () {
        if (subscribed) act('POST', '/v1/billing/plan', { plan: p.plan });
        else act('POST', '/v1/billing/checkout', { plan: p.plan, provider: 'stripe', method: 'card' });
      });
      // Omise: a month at a time, paid by PromptPay (while subscribed: the next month)
      if (omise && owner && (!subscribed || viaOmise)) {
        var q = box.appendChild(el('button', null, (subscribed ? 'Pay next month of ' : 'Pay ') +
          p.plan + ' with PromptPay · ' + money(p.thb_satang, 'thb')));
        q.type = 'button';
        q.dataset.promptpay = p.plan;
        q.addEventListener('click', function () { promptpay(p.plan); });
        if (omiseCards) {
          var c = box.appendChild(el('button', null, (subscribed ? 'Pay next month of ' :
            'Pay ') + p.plan + ' by card · ' + money(p.thb_satang, 'thb')));
          c.type = 'button';
          c.dataset.omiseCard = p.plan;
          c.addEventListener('click', function () { cardForm(p.plan, omiseCards); });
        }
      }
    });
    if (subscribed && owner && !viaOmise) {
      var portal = box.appendChild(el('button', null, 'Payment method and receipts'));
      portal.type = 'button';
      portal.addEventListener('click', function () { act('POST', '/v1/billing/portal'); });
    }
    if (subscribed && owner) {
      if (!s.cancel_at_period_end) {
        var cancel = box.appendChild(el('button', null, 'Cancel at the end of the period'));
        cancel.type = 'button';
        cancel.id = 'billing-cancel';
        cancel.addEventListener('click', function () { act('POST', '/v1/billing/cancel'); });
      }
    }
    return box;
  }

  function render(s, invoices) {
    section.replaceChildren(el('h2', null, 'Billing'));
    if (!s.configured) {
      section.appendChild(el('p', 'sub', 'Billing is not configured on this server: ' +
        'every organisation is on the free plan.')).id = 'billing-off';
    }
    var plan = section.appendChild(el('p', 'billing-plan'));
    plan.id = 'billing-plan';
    plan.textContent = 'Plan: ' + s.plan + ' · status: ' + s.status + ' · period ' +
      day(s.period_start) + ' – ' + day(s.period_end) +
      (s.cancel_at_period_end ? ' · ends at the end of the period' : '') +
      (s.grace_until ? ' · payment failed: on the free plan after ' + day(s.grace_until) : '');
    if (s.card) {
      section.appendChild(el('p', 'sub', 'Card: ' + s.card.brand + ' ending ' + s.card.last4 +
        ', expires ' + s.card.exp_month + '/' + s.card.exp_year));
    }
    section.appendChild(el('h2', null, 'Usage'));
    var meters = section.appendChild(el('div', 'meters'));
    Object.keys(BILLING_METRICS).forEach(function (m) {
      if (s.limits[m] != null) meters.appendChild(bar(m, s.usage[m] || 0, s.limits[m]));
    });
    section.appendChild(el('p', 'sub', 'LLM tokens this period: ' + (s.usage.tokens_in || 0) +
      ' in, ' + (s.usage.tokens_out || 0) + ' out · conversations: ' + (s.usage.conversations || 0)));
    section.appendChild(el('h2', null, 'Plans'));
    if (s.next_plan) {
      section.appendChild(el('p', 'sub', 'From the next period: ' + s.next_plan)).id =
        'billing-next';
    }
    section.appendChild(planButtons(s));
    var qr = section.appendChild(el('div', 'billing-qr'));
    qr.id = 'billing-qr-box';
    qr.hidden = true;
    section.appendChild(el('h2', null, 'Invoices'));
    var table = section.appendChild(el('table'));
    var body = table.appendChild(el('tbody'));
    body.id = 'billing-invoices';
    invoices.forEach(function (i) {
      var tr = body.appendChild(el('tr'));
      tr.appendChild(el('td', null, day(i.issued_at)));
      tr.appendChild(el('td', null, money(i.amount, i.currency)));
      tr.appendChild(el('td', null, i.status));
      var td = tr.appendChild(el('td'));
      if (i.url && /^https?:\/\//.test(i.url)) {
        var a = td.appendChild(el('a', null, 'Invoice'));
        a.href = i.url;
        a.rel = 'noopener noreferrer';
        a.target = '_blank';
      }
    });
    if (!invoices.length) section.appendChild(el('p', 'sub', 'No invoices yet.'));
    var st = section.appendChild(el('p', 'sub'));
    st.id = 'billing-status';
    st.setAttribute('role', 'status');
  }

  function showBanner(s) {
    var near = (s.near_limits || []).map(function (m) { return BILLING_METRICS[m] || m; });
    banner.hidden = !near.length;
    banner.textContent = near.length ? 'Near or over your plan\'s limit: ' + near.join(', ') +
      '. Past the AI-answer limit, new questions go to your team.' : '';
  }

  function load() {
    return Promise.all([requestJSON('GET', '/v1/billing', token()),
                        requestJSON('GET', '/v1/billing/invoices', token())]).then(function (r) {
      state = r[0];
      showBanner(state);
      if (!section.hidden) render(state, r[1].items || []);
    }, function (err) {
      if (!section.hidden) section.replaceChildren(el('p', 'sub', 'Error: ' + err.message));
    });
  }

  function show(on) {
    if (on) {
      ['audit', 'team'].forEach(function (id) { if ($(id)) $(id).hidden = true; });
    }
    section.hidden = !on;
    if (!on) stopPolling();
    $('desk-lists').hidden = on;
    $('desk-convo').hidden = on;
    button.textContent = on ? 'Conversations' : 'Billing';
    if (on) load();
  }

  button.addEventListener('click', function () { show(section.hidden); });
  // the other pages' buttons take the screen: this page steps aside
  ['audit-toggle', 'team-toggle'].forEach(function (id) {
    if ($(id)) $(id).addEventListener('click', function () {
      if (!section.hidden) { section.hidden = true; button.textContent = 'Billing'; }
    }, true);
  });

  return {
    // owners and admins see it (the server refuses anyone else anyway)
    allow: function (on) {
      button.hidden = !on;
      if (on) { load(); return; }
      section.hidden = true;
      banner.hidden = true;
      button.textContent = 'Billing';
    },
    show: show,
    shown: function () { return !section.hidden; }
  };
}
