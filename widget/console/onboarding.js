// The onboarding checklist (owners and admins) above the inbox, until every step is done:
// a first knowledge-base document, the widget styled, the embed snippet copied, allowed
// origins set, a teammate invited. GET /v1/org/onboarding reads each from the org's data,
// so the list is right whoever did the step and from wherever.
addStrings({
  en: {
    'onb.title': 'Get started', 'onb.progress': '{} of 5 done',
    'onb.kb_document': 'Add a first knowledge-base document',
    'onb.widget_styled': 'Style the widget',
    'onb.snippet_copied': 'Copy the embed snippet to your site',
    'onb.allowed_origins': 'Set the allowed origins',
    'onb.teammate_invited': 'Invite a teammate',
    'onb.done': 'Done', 'onb.todo': 'To do', 'onb.go': 'Open'
  },
  th: {
    'onb.title': 'เริ่มต้นใช้งาน', 'onb.progress': 'เสร็จแล้ว {} จาก 5',
    'onb.kb_document': 'เพิ่มเอกสารแรกในคลังความรู้',
    'onb.widget_styled': 'ปรับแต่งหน้าตาวิดเจ็ต',
    'onb.snippet_copied': 'คัดลอกโค้ดฝังไปใส่ในเว็บไซต์',
    'onb.allowed_origins': 'กำหนดโดเมนที่อนุญาต',
    'onb.teammate_invited': 'เชิญเพื่อนร่วมทีม',
    'onb.done': 'เสร็จแล้ว', 'onb.todo': 'ยังไม่เสร็จ', 'onb.go': 'ไปที่หน้านี้'
  }
});

function createOnboarding(token, settings) {
  var $ = function (id) { return document.getElementById(id); };
  var allowed = false, steps = null;
  // where each step is done: a settings part (and the field to focus), or another page
  var targets = {
    kb_document: function () { var b = $('kb-toggle'); if (b && !b.hidden) b.click(); },
    widget_styled: function () { settings.open('settings-widget', 'widget-color'); },
    snippet_copied: function () { settings.open('settings-widget', 'snippet-copy'); },
    allowed_origins: function () { settings.open('settings-origins', 'allowed-origins'); },
    teammate_invited: function () { var b = $('team-toggle'); if (b && !b.hidden) b.click(); }
  };

  var box = el('aside', 'onboarding');
  box.id = 'onboarding';
  box.setAttribute('aria-labelledby', 'onboarding-title');
  box.hidden = true;
  var title = box.appendChild(el('h2'));
  title.id = 'onboarding-title';
  var progress = box.appendChild(el('p', 'sub'));
  progress.id = 'onboarding-progress';
  var list = box.appendChild(el('ol'));
  $('desk-convo').prepend(box);

  function render() {
    if (!steps) return;
    var done = steps.filter(function (s) { return s.done; }).length;
    title.textContent = tr('onb.title');
    progress.textContent = tr('onb.progress', done);
    list.replaceChildren.apply(list, steps.map(function (s) {
      var li = el('li', s.done ? 'done' : 'todo');
      li.dataset.step = s.id;
      li.appendChild(el('span', 'mark', s.done ? '✓' : '○')).setAttribute('aria-hidden', 'true');
      li.appendChild(el('span', 'sr', tr(s.done ? 'onb.done' : 'onb.todo') + ': '));
      li.appendChild(el('span', 'what', tr('onb.' + s.id)));
      if (!s.done) {
        var go = li.appendChild(el('button', null, tr('onb.go')));
        go.type = 'button';
        go.setAttribute('aria-label', tr('onb.go') + ': ' + tr('onb.' + s.id));
        go.addEventListener('click', targets[s.id]);
      }
      return li;
    }));
  }

  function refresh() {
    if (!allowed || !token()) return;
    requestJSON('GET', '/v1/org/onboarding', token()).then(function (j) {
      steps = j.steps;
      // it stays until every step is done, then it is gone for good (nothing undoes them
      // all at once)
      box.hidden = !allowed || j.complete;
      render();
    }, function () { box.hidden = true; });
  }

  onLocaleChange(render);
  // back from any page (a document added, a teammate invited): read the steps again
  $('logout').parentNode.addEventListener('click', function (e) {
    if (e.target.closest('button')) setTimeout(refresh, 0);
  });
  document.addEventListener('visibilitychange', function () { if (!document.hidden) refresh(); });

  return {
    allow: function (on) {
      allowed = on;
      if (on) refresh();
      else box.hidden = true;
    },
    refresh: refresh
  };
}
