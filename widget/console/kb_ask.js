// The knowledge-base page's lower half (widget/console/kb.js builds the page): "try the
// bot" (POST /v1/kb/try: the answer with its sources and every passage's score, or why the
// bot would hand off) and the unanswered questions with "Answer this", which adds a
// question-and-answer document. Every value goes in through textContent.
function createKbAsk(section, token, status, failed, added) {
  var i18n = kbI18n, labelled = kbField, button = kbButton, lastTry = null;

  // -- try the bot -----------------------------------------------------------------------
  var tryForm = section.appendChild(el('form', 'kb-form kb-try'));
  tryForm.id = 'kb-try';
  tryForm.appendChild(i18n(el('h3'), 'kb.try'));
  var tQ = labelled('input', 'kb-try-question', 'kb.try.question');
  tQ[1].maxLength = 4000;
  tQ[1].required = true;
  var tLang = labelled('select', 'kb-try-lang', 'kb.try.lang');
  [['en', 'English'], ['th', 'ไทย']].forEach(function (o) {
    tLang[1].appendChild(el('option', null, o[1])).value = o[0];
  });
  [tQ[0], tQ[1], tLang[0], tLang[1]].forEach(function (n) { tryForm.appendChild(n); });
  tryForm.appendChild(button('kb.try.ask', 'submit'));
  var tryOut = section.appendChild(el('div', 'kb-try-result'));
  tryOut.id = 'kb-try-result';
  tryOut.setAttribute('aria-live', 'polite');

  function renderTry(r) {
    tryOut.replaceChildren();
    if (!r) return;
    if (r.answered) {
      tryOut.appendChild(el('h4', null, tr('kb.try.answer')));
      var answer = tryOut.appendChild(el('p', 'kb-answer', r.answer));
      answer.id = 'kb-try-answer';
      if (r.sources && r.sources.length) {
        tryOut.appendChild(el('h4', null, tr('kb.try.sources')));
        var ul = tryOut.appendChild(el('ul', 'kb-sources'));
        ul.id = 'kb-try-sources';
        r.sources.forEach(function (s) {
          var li = ul.appendChild(el('li'));
          if (s.url && /^https?:\/\//.test(s.url)) {
            var a = li.appendChild(el('a', null, s.title));
            a.href = s.url;
            a.rel = 'noopener noreferrer';
            a.target = '_blank';
          } else {
            li.textContent = s.title;
          }
        });
      }
    } else {
      var why = tryOut.appendChild(el('p', 'kb-handoff',
        tr('kb.try.handoff', tr('kb.handoff.' + r.handoff))));
      why.id = 'kb-try-handoff';
      why.dataset.reason = r.handoff;
    }
    if (!r.passages || !r.passages.length) return;
    var t = tryOut.appendChild(el('table', 'kb-passages'));
    t.id = 'kb-try-passages';
    t.appendChild(el('caption', null, tr('kb.try.passages', r.threshold)));
    var hr = t.appendChild(el('thead')).appendChild(el('tr'));
    ['kb.try.passage', 'kb.try.score', 'kb.try.cited'].forEach(function (k) {
      hr.appendChild(el('th', null, tr(k))).scope = 'col';
    });
    var tb = t.appendChild(el('tbody'));
    r.passages.forEach(function (p) {
      var row = tb.appendChild(el('tr'));
      row.dataset.cited = p.cited ? '1' : '0';
      var cell = row.appendChild(el('td'));
      cell.appendChild(el('strong', null, p.title + (p.heading ? ' › ' + p.heading : '')));
      cell.appendChild(el('span', 'kb-chunk-text', ' ' + p.text.slice(0, 240)));
      row.appendChild(el('td', 'kb-score', p.score.toFixed(3)));
      row.appendChild(el('td', null, tr(p.cited ? 'kb.try.yes' : 'kb.try.no')));
    });
  }

  tryForm.addEventListener('submit', function (e) {
    e.preventDefault();
    status('kb.working');
    requestJSON('POST', '/v1/kb/try', token(), { question: tQ[1].value, locale: tLang[1].value })
      .then(function (r) { lastTry = r; status(''); renderTry(r); }, failed);
  });

  // -- unanswered questions -----------------------------------------------------------------
  section.appendChild(i18n(el('h3'), 'kb.unanswered'));
  var qTable = section.appendChild(el('table'));
  qTable.id = 'kb-unanswered';
  var qHead = qTable.appendChild(el('thead')).appendChild(el('tr'));
  ['kb.col.question', 'kb.col.asked', 'kb.col.best', 'kb.col.actions'].forEach(function (k) {
    i18n(qHead.appendChild(el('th')), k).scope = 'col';
  });
  var qRows = qTable.appendChild(el('tbody'));
  var qEmpty = section.appendChild(i18n(el('p', 'sub'), 'kb.unanswered.none'));

  function answerForm(q, done) {
    var f = el('form', 'kb-form kb-answer-form');
    f.id = 'kb-answer-' + q.id;
    var fq = labelled('input', 'kb-answer-q-' + q.id, 'kb.answer.question');
    fq[1].value = q.question;
    fq[1].maxLength = 1000;
    fq[1].required = true;
    var fa = labelled('textarea', 'kb-answer-a-' + q.id, 'kb.answer.text');
    fa[1].rows = 3;
    fa[1].maxLength = 4000;
    fa[1].required = true;
    [fq[0], fq[1], fa[0], fa[1]].forEach(function (n) { f.appendChild(n); });
    f.appendChild(button('kb.answer.save', 'submit'));
    f.appendChild(button('kb.answer.cancel')).addEventListener('click', done);
    f.addEventListener('submit', function (e) {
      e.preventDefault();
      status('kb.working');
      var body = { answer: fa[1].value };
      if (fq[1].value.trim() !== q.question.trim()) body.question = fq[1].value;
      requestJSON('POST', '/v1/kb/unanswered/' + q.id + '/answer', token(), body).then(function () {
        status('kb.answered');
        return Promise.all([added(), loadUnanswered()]);
      }, failed);
    });
    return f;
  }

  function questionRow(q) {
    var row = el('tr');
    row.dataset.id = q.id;
    row.appendChild(el('td', null, q.question));
    row.appendChild(el('td', null, new Date(q.created_at).toLocaleString()));
    row.appendChild(el('td', null, q.best_score == null ? '—' : q.best_score.toFixed(3)));
    var b = row.appendChild(el('td')).appendChild(el('button', 'kb-answer-open', tr('kb.answer')));
    b.type = 'button';
    b.setAttribute('aria-label', tr('kb.answer.label', q.question));
    var holder = null;
    b.addEventListener('click', function () {
      if (!holder) {
        holder = el('tr', 'kb-answer-row');
        var cell = holder.appendChild(el('td'));
        cell.colSpan = 4;
        cell.appendChild(answerForm(q, function () { holder.remove(); holder = null; b.focus(); }));
        row.after(holder);
      }
      holder.querySelector('textarea').focus();
    });
    return row;
  }

  function loadUnanswered() {
    return requestJSON('GET', '/v1/kb/unanswered?limit=100', token()).then(function (j) {
      var qs = j.questions || [];
      qRows.replaceChildren.apply(qRows, qs.map(questionRow));
      qEmpty.hidden = qs.length > 0;
    }, failed);
  }

  return {
    load: loadUnanswered,
    relabel: function () { renderTry(lastTry); if (!section.hidden) loadUnanswered(); }
  };
}
