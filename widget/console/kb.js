// The knowledge-base page (owners and admins; the server refuses anyone else): upload by
// drag and drop or a file input, paste text, or fetch one page by URL; the documents with
// their status (processing is polled until it settles), size and chunks; a document's
// chunks; delete; re-index. Below them kb_ask.js adds "try the bot" and the unanswered
// questions with "Answer this". It builds its own button and section; every value goes in
// through textContent.
addStrings({
  en: {
    'kb.button': 'Knowledge base', 'kb.back': 'Conversations', 'kb.title': 'Knowledge base',
    'kb.add': 'Add knowledge', 'kb.drop': 'Drop files here: .txt, .md, .html, .pdf or a question,answer .csv',
    'kb.choose': 'Or choose files', 'kb.paste': 'Paste text', 'kb.paste.title': 'Title',
    'kb.paste.text': 'Text', 'kb.paste.save': 'Add text', 'kb.url': 'Fetch one web page',
    'kb.url.label': 'Page address (https://…)', 'kb.url.fetch': 'Fetch page',
    'kb.docs': 'Documents', 'kb.none': 'No documents yet.', 'kb.reindex': 'Re-index all',
    'kb.col.title': 'Title', 'kb.col.kind': 'Kind', 'kb.col.status': 'Status',
    'kb.col.size': 'Size', 'kb.col.chunks': 'Chunks', 'kb.col.updated': 'Updated',
    'kb.col.actions': 'Actions', 'kb.status.processing': 'processing', 'kb.status.ready': 'ready',
    'kb.status.failed': 'failed', 'kb.view': 'Chunks', 'kb.view.label': 'Chunks: {}',
    'kb.delete': 'Delete', 'kb.delete.label': 'Delete: {}', 'kb.delete.confirm': 'Click again to delete',
    'kb.chunks.title': 'Chunks of “{}”', 'kb.chunks.close': 'Close', 'kb.chunks.more': 'More chunks',
    'kb.chunks.qa': 'question and answer', 'kb.chunks.chars': '{} characters',
    'kb.try': 'Try the bot', 'kb.try.question': 'A question, as a visitor would ask it',
    'kb.try.lang': 'Answer in', 'kb.try.ask': 'Ask', 'kb.try.answer': 'The bot would answer',
    'kb.try.sources': 'Sources', 'kb.try.passages': 'What retrieval found (threshold {})',
    'kb.try.score': 'Score', 'kb.try.cited': 'Cited', 'kb.try.passage': 'Passage',
    'kb.try.yes': 'yes', 'kb.try.no': 'no', 'kb.try.handoff': 'The bot would hand off: {}',
    'kb.handoff.asked_for_human': 'the visitor asks for a person',
    'kb.handoff.no_answer': 'nothing in the knowledge base scores above the threshold',
    'kb.handoff.plan_limit': 'the plan’s AI answers for this period are used up',
    'kb.handoff.llm_failed': 'the AI service failed; a person would answer',
    'kb.unanswered': 'Unanswered questions', 'kb.unanswered.none': 'No unanswered questions.',
    'kb.col.question': 'Question', 'kb.col.asked': 'Asked', 'kb.col.best': 'Best score',
    'kb.answer': 'Answer this', 'kb.answer.label': 'Answer this: {}', 'kb.answer.question': 'Question as it will be kept',
    'kb.answer.text': 'Answer', 'kb.answer.save': 'Add to the knowledge base', 'kb.answer.cancel': 'Cancel',
    'kb.working': 'Working…', 'kb.uploaded': 'Added “{}”.', 'kb.deleted': 'Deleted.',
    'kb.reindexing': 'Re-indexing in the background.', 'kb.answered': 'Added to the knowledge base.',
    'kb.error': 'Error: {}'
  },
  th: {
    'kb.button': 'ฐานความรู้', 'kb.back': 'บทสนทนา', 'kb.title': 'ฐานความรู้',
    'kb.add': 'เพิ่มความรู้', 'kb.drop': 'ลากไฟล์มาวางที่นี่: .txt, .md, .html, .pdf หรือ .csv แบบคำถาม,คำตอบ',
    'kb.choose': 'หรือเลือกไฟล์', 'kb.paste': 'วางข้อความ', 'kb.paste.title': 'ชื่อเรื่อง',
    'kb.paste.text': 'ข้อความ', 'kb.paste.save': 'เพิ่มข้อความ', 'kb.url': 'ดึงหน้าเว็บหนึ่งหน้า',
    'kb.url.label': 'ที่อยู่หน้าเว็บ (https://…)', 'kb.url.fetch': 'ดึงหน้าเว็บ',
    'kb.docs': 'เอกสาร', 'kb.none': 'ยังไม่มีเอกสาร', 'kb.reindex': 'สร้างดัชนีใหม่ทั้งหมด',
    'kb.col.title': 'ชื่อเรื่อง', 'kb.col.kind': 'ชนิด', 'kb.col.status': 'สถานะ',
    'kb.col.size': 'ขนาด', 'kb.col.chunks': 'ส่วนย่อย', 'kb.col.updated': 'อัปเดต',
    'kb.col.actions': 'การทำงาน', 'kb.status.processing': 'กำลังประมวลผล', 'kb.status.ready': 'พร้อมใช้',
    'kb.status.failed': 'ล้มเหลว', 'kb.view': 'ส่วนย่อย', 'kb.view.label': 'ส่วนย่อย: {}',
    'kb.delete': 'ลบ', 'kb.delete.label': 'ลบ: {}', 'kb.delete.confirm': 'คลิกอีกครั้งเพื่อลบ',
    'kb.chunks.title': 'ส่วนย่อยของ “{}”', 'kb.chunks.close': 'ปิด', 'kb.chunks.more': 'ส่วนย่อยเพิ่มเติม',
    'kb.chunks.qa': 'คำถามและคำตอบ', 'kb.chunks.chars': '{} ตัวอักษร',
    'kb.try': 'ลองถามบอท', 'kb.try.question': 'คำถามแบบที่ผู้เยี่ยมชมจะถาม',
    'kb.try.lang': 'ตอบเป็นภาษา', 'kb.try.ask': 'ถาม', 'kb.try.answer': 'บอทจะตอบว่า',
    'kb.try.sources': 'แหล่งที่มา', 'kb.try.passages': 'สิ่งที่ค้นพบ (เกณฑ์ {})',
    'kb.try.score': 'คะแนน', 'kb.try.cited': 'อ้างอิง', 'kb.try.passage': 'ข้อความ',
    'kb.try.yes': 'ใช่', 'kb.try.no': 'ไม่', 'kb.try.handoff': 'บอทจะส่งต่อให้เจ้าหน้าที่: {}',
    'kb.handoff.asked_for_human': 'ผู้เยี่ยมชมขอคุยกับเจ้าหน้าที่',
    'kb.handoff.no_answer': 'ไม่มีข้อมูลในฐานความรู้ที่ได้คะแนนถึงเกณฑ์',
    'kb.handoff.plan_limit': 'ใช้คำตอบ AI ของแพ็กเกจในรอบนี้หมดแล้ว',
    'kb.handoff.llm_failed': 'บริการ AI ขัดข้อง เจ้าหน้าที่จะเป็นผู้ตอบ',
    'kb.unanswered': 'คำถามที่ยังไม่มีคำตอบ', 'kb.unanswered.none': 'ไม่มีคำถามที่ยังไม่มีคำตอบ',
    'kb.col.question': 'คำถาม', 'kb.col.asked': 'ถามเมื่อ', 'kb.col.best': 'คะแนนสูงสุด',
    'kb.answer': 'ตอบคำถามนี้', 'kb.answer.label': 'ตอบคำถามนี้: {}', 'kb.answer.question': 'คำถามที่จะเก็บไว้',
    'kb.answer.text': 'คำตอบ', 'kb.answer.save': 'เพิ่มลงฐานความรู้', 'kb.answer.cancel': 'ยกเลิก',
    'kb.working': 'กำลังดำเนินการ…', 'kb.uploaded': 'เพิ่ม “{}” แล้ว', 'kb.deleted': 'ลบแล้ว',
    'kb.reindexing': 'กำลังสร้างดัชนีใหม่อยู่เบื้องหลัง', 'kb.answered': 'เพิ่มลงฐานความรู้แล้ว',
    'kb.error': 'ข้อผิดพลาด: {}'
  }
});

var KB_FILE_TYPES = '.txt,.text,.md,.markdown,.html,.htm,.pdf,.csv';
var KB_POLL_MS = 1500;

// small builders shared with kb_ask.js: translated text, a labelled field, a button
function kbI18n(node, key) { node.dataset.i18n = key; node.textContent = tr(key); return node; }

function kbField(tag, id, key) {
  var label = kbI18n(el('label'), key);
  label.htmlFor = id;
  var input = el(tag);
  input.id = id;
  return [label, input];
}

function kbButton(key, type) {
  var b = kbI18n(el('button'), key);
  b.type = type || 'button';
  return b;
}

function createKbView(token) {
  var $ = function (id) { return document.getElementById(id); };
  var docs = [], shownDoc = null, pollTimer = null;

  var i18n = kbI18n, labelled = kbField, button = kbButton;

  var toggle = el('button', null, tr('kb.button'));
  toggle.id = 'kb-toggle';
  toggle.type = 'button';
  toggle.hidden = true;
  $('logout').before(toggle);
  var section = el('section', 'audit kb');
  section.id = 'kb';
  section.setAttribute('aria-labelledby', 'kb-title');
  section.hidden = true;
  $('app').appendChild(section);

  section.appendChild(i18n(el('h2'), 'kb.title')).id = 'kb-title';
  var statusLine = section.appendChild(el('p', 'sub'));
  statusLine.id = 'kb-status';
  statusLine.setAttribute('role', 'status');
  function status(key, arg) { statusLine.textContent = key ? tr(key, arg) : ''; }
  function failed(err) { status('kb.error', err.message); }

  // -- adding knowledge ------------------------------------------------------------
  var add = section.appendChild(el('div', 'kb-add'));
  add.appendChild(i18n(el('h3'), 'kb.add'));
  var drop = add.appendChild(el('div', 'kb-drop'));
  drop.id = 'kb-drop';
  drop.appendChild(i18n(el('p'), 'kb.drop'));
  var pick = labelled('input', 'kb-file', 'kb.choose');
  pick[1].type = 'file';
  pick[1].multiple = true;
  pick[1].accept = KB_FILE_TYPES;
  drop.appendChild(pick[0]);
  drop.appendChild(pick[1]);

  var paste = add.appendChild(el('form', 'kb-form'));
  paste.id = 'kb-paste';
  paste.appendChild(i18n(el('h3'), 'kb.paste'));
  var pTitle = labelled('input', 'kb-paste-title', 'kb.paste.title');
  pTitle[1].maxLength = 300;
  pTitle[1].required = true;
  var pText = labelled('textarea', 'kb-paste-text', 'kb.paste.text');
  pText[1].rows = 4;
  pText[1].required = true;
  [pTitle[0], pTitle[1], pText[0], pText[1]].forEach(function (n) { paste.appendChild(n); });
  paste.appendChild(button('kb.paste.save', 'submit'));

  var fetchForm = add.appendChild(el('form', 'kb-form'));
  fetchForm.id = 'kb-fetch';
  fetchForm.appendChild(i18n(el('h3'), 'kb.url'));
  var fUrl = labelled('input', 'kb-url', 'kb.url.label');
  fUrl[1].type = 'url';
  fUrl[1].maxLength = 2000;
  fUrl[1].required = true;
  fetchForm.appendChild(fUrl[0]);
  fetchForm.appendChild(fUrl[1]);
  fetchForm.appendChild(button('kb.url.fetch', 'submit'));

  // multipart goes through fetch itself (requestJSON speaks JSON), with the same headers
  function upload(file) {
    var form = new FormData();
    form.append('file', file, file.name);
    return fetch('/v1/kb/documents', {
      method: 'POST', body: form, credentials: 'same-origin', cache: 'no-store',
      headers: { accept: 'application/json', 'x-clienta-csrf': '1', authorization: 'Bearer ' + token() }
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (r.ok) return j;
        throw new Error((j && j.error && j.error.message) || 'HTTP ' + r.status);
      });
    });
  }

  function added(name) {
    return function () { status('kb.uploaded', name); return loadDocs(); };
  }

  function uploadAll(files) {
    var list = Array.prototype.slice.call(files || []);
    if (!list.length) return Promise.resolve();
    status('kb.working');
    return list.reduce(function (p, f) {
      return p.then(function () { return upload(f).then(added(f.name)); });
    }, Promise.resolve()).catch(failed);
  }

  drop.addEventListener('dragover', function (e) { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', function () { drop.classList.remove('over'); });
  drop.addEventListener('drop', function (e) {
    e.preventDefault();
    drop.classList.remove('over');
    uploadAll(e.dataTransfer && e.dataTransfer.files);
  });
  pick[1].addEventListener('change', function () {
    uploadAll(pick[1].files).then(function () { pick[1].value = ''; });
  });
  paste.addEventListener('submit', function (e) {
    e.preventDefault();
    var title = pTitle[1].value.trim();
    status('kb.working');
    requestJSON('POST', '/v1/kb/documents', token(), { title: title, text: pText[1].value })
      .then(function () { paste.reset(); return added(title)(); }, failed);
  });
  fetchForm.addEventListener('submit', function (e) {
    e.preventDefault();
    var url = fUrl[1].value.trim();
    status('kb.working');
    requestJSON('POST', '/v1/kb/documents', token(), { fetch_url: url })
      .then(function () { fetchForm.reset(); return added(url)(); }, failed);
  });

  // -- documents ---------------------------------------------------------------------
  var docHead = section.appendChild(el('div', 'kb-head'));
  docHead.appendChild(i18n(el('h3'), 'kb.docs'));
  var reindex = docHead.appendChild(button('kb.reindex'));
  reindex.id = 'kb-reindex';
  var table = section.appendChild(el('table'));
  table.id = 'kb-docs';
  var head = table.appendChild(el('thead')).appendChild(el('tr'));
  ['kb.col.title', 'kb.col.kind', 'kb.col.status', 'kb.col.size', 'kb.col.chunks',
   'kb.col.updated', 'kb.col.actions'].forEach(function (k) {
    i18n(head.appendChild(el('th')), k).scope = 'col';
  });
  var rows = table.appendChild(el('tbody'));
  var empty = section.appendChild(i18n(el('p', 'sub'), 'kb.none'));

  function size(bytes) {
    if (bytes < 1024) return bytes + ' B';
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + ' KB';
    return (bytes / 1048576).toFixed(1) + ' MB';
  }

  function docRow(d) {
    var tr_ = el('tr');
    tr_.dataset.id = d.document_id;
    tr_.dataset.status = d.status;
    var name = tr_.appendChild(el('td', null, d.title));
    if (d.url && /^https?:\/\//.test(d.url)) {
      name.appendChild(el('br'));
      var a = name.appendChild(el('a', 'sub', d.url));
      a.href = d.url;
      a.rel = 'noopener noreferrer';
      a.target = '_blank';
    }
    tr_.appendChild(el('td', null, d.kind));
    var st = tr_.appendChild(el('td'));
    st.appendChild(el('span', 'badge ' + d.status, tr('kb.status.' + d.status)));
    if (d.status === 'failed' && d.error) st.appendChild(el('span', 'kb-error', d.error));
    tr_.appendChild(el('td', null, size(d.bytes)));
    tr_.appendChild(el('td', null, String(d.chunks)));
    tr_.appendChild(el('td', null, new Date(d.updated_at).toLocaleString()));
    var acts = tr_.appendChild(el('td', 'kb-actions'));
    var view = acts.appendChild(el('button', 'kb-view', tr('kb.view')));
    view.type = 'button';
    view.setAttribute('aria-label', tr('kb.view.label', d.title));
    view.disabled = d.status !== 'ready';
    view.addEventListener('click', function () { openChunks(d); });
    var del = acts.appendChild(el('button', 'kb-delete', tr('kb.delete')));
    del.type = 'button';
    del.setAttribute('aria-label', tr('kb.delete.label', d.title));
    // two steps, in the page (no native dialog): the second click within a few seconds
    del.addEventListener('click', function () {
      if (!del.dataset.armed) {
        del.dataset.armed = '1';
        del.textContent = tr('kb.delete.confirm');
        del.setAttribute('aria-label', tr('kb.delete.confirm') + ': ' + d.title);
        setTimeout(function () {
          delete del.dataset.armed;
          del.textContent = tr('kb.delete');
          del.setAttribute('aria-label', tr('kb.delete.label', d.title));
        }, 5000);
        return;
      }
      requestJSON('DELETE', '/v1/kb/documents/' + d.document_id, token()).then(function () {
        status('kb.deleted');
        if (shownDoc && shownDoc.document_id === d.document_id) closeChunks();
        return loadDocs();
      }, failed);
    });
    return tr_;
  }

  function renderDocs() {
    rows.replaceChildren.apply(rows, docs.map(docRow));
    empty.hidden = docs.length > 0;
  }

  function loadDocs() {
    clearTimeout(pollTimer);
    return requestJSON('GET', '/v1/kb/documents?limit=200', token()).then(function (j) {
      docs = j.documents || [];
      renderDocs();
      // documents processed in the background settle on their own: look again soon
      if (!section.hidden && docs.some(function (d) { return d.status === 'processing'; })) {
        pollTimer = setTimeout(loadDocs, KB_POLL_MS);
      }
    }, failed);
  }

  reindex.addEventListener('click', function () {
    requestJSON('POST', '/v1/kb/reindex?force=1', token()).then(function () {
      status('kb.reindexing');
    }, failed);
  });

  // -- a document's chunks ------------------------------------------------------------
  var chunkBox = section.appendChild(el('section', 'kb-chunks'));
  chunkBox.id = 'kb-chunks';
  chunkBox.setAttribute('aria-labelledby', 'kb-chunks-title');
  chunkBox.hidden = true;
  var chunkTitle = chunkBox.appendChild(el('h3'));
  chunkTitle.id = 'kb-chunks-title';
  chunkTitle.tabIndex = -1;
  var chunkList = chunkBox.appendChild(el('ol', 'kb-chunk-list'));
  var moreChunks = chunkBox.appendChild(button('kb.chunks.more'));
  var closeBtn = chunkBox.appendChild(button('kb.chunks.close'));

  function chunkItem(c) {
    var li = el('li');
    li.dataset.kind = c.kind;
    var meta = li.appendChild(el('div', 'sub', '#' + (c.ord + 1) + ' · ' + tr('kb.chunks.chars', c.chars) +
      (c.kind === 'qa' ? ' · ' + tr('kb.chunks.qa') : '')));
    meta.dataset.ord = String(c.ord);
    if (c.heading) li.appendChild(el('strong', null, c.heading));
    li.appendChild(el('p', 'kb-chunk-text', c.text));
    return li;
  }

  function loadChunks(offset) {
    return requestJSON('GET', '/v1/kb/documents/' + shownDoc.document_id + '/chunks?limit=50&offset=' + offset, token())
      .then(function (j) {
        (j.chunks || []).forEach(function (c) { chunkList.appendChild(chunkItem(c)); });
        moreChunks.hidden = chunkList.children.length >= j.total;
      }, failed);
  }

  function openChunks(d) {
    shownDoc = d;
    chunkTitle.textContent = tr('kb.chunks.title', d.title);
    chunkList.replaceChildren();
    chunkBox.hidden = false;
    return loadChunks(0).then(function () { chunkTitle.focus(); });
  }

  function closeChunks() { shownDoc = null; chunkBox.hidden = true; }
  moreChunks.addEventListener('click', function () { loadChunks(chunkList.children.length); });
  closeBtn.addEventListener('click', closeChunks);

  var ask = createKbAsk(section, token, status, failed, loadDocs);

  onLocaleChange(function () {
    translatePage(section);
    toggle.textContent = tr(section.hidden ? 'kb.button' : 'kb.back');
    if (shownDoc) chunkTitle.textContent = tr('kb.chunks.title', shownDoc.title);
    renderDocs();
    ask.relabel();
  });

  function show(on) {
    if (on) {
      document.querySelectorAll('#app > section, #desk-lists').forEach(function (s) {
        if (s !== section) s.hidden = true;
      });
      translatePage(section);
      status('');
      loadDocs();
      ask.load();
    } else {
      clearTimeout(pollTimer);
      $('desk-lists').hidden = false;
      $('desk-convo').hidden = false;
    }
    section.hidden = !on;
    toggle.textContent = tr(on ? 'kb.back' : 'kb.button');
  }

  toggle.addEventListener('click', function () { show(section.hidden); });
  // another page's button takes the screen: this page steps aside
  $('app').querySelector('.top').addEventListener('click', function (e) {
    var b = e.target.closest && e.target.closest('button');
    if (b && b !== toggle && b.id !== 'logout' && !section.hidden) {
      section.hidden = true;
      clearTimeout(pollTimer);
      toggle.textContent = tr('kb.button');
    }
  }, true);

  return {
    allow: function (on) {
      toggle.hidden = !on;
      if (!on && !section.hidden) show(false);
    },
    show: show,
    shown: function () { return !section.hidden; }
  };
}
