// Safe formatting subset for untrusted text (visitor, agent, bot): http(s) links,
// **bold**, "- " lists and line breaks, built with DOM methods only. No path
// here ever parses markup, so a payload can only ever show up as text.
var INLINE_RE = /\*\*([^*\n]+?)\*\*|\[([^\]\n]{1,200})\]\((https?:\/\/[^\s)]+)\)|(https?:\/\/[^\s<>"']+)/g;

function safeHref(url) {
  try {
    var u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch (e) {
    return null;
  }
}

function linkEl(doc, href, text) {
  var a = doc.createElement('a');
  a.href = href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer nofollow';
  a.textContent = text;
  return a;
}

function appendInline(parent, text) {
  var doc = parent.ownerDocument, last = 0, m;
  var re = new RegExp(INLINE_RE.source, 'g');
  while ((m = re.exec(text))) {
    var node = null, end = re.lastIndex, href;
    if (m[1] !== undefined) {
      node = doc.createElement('strong');
      node.textContent = m[1];
    } else if (m[2] !== undefined) {
      href = safeHref(m[3]);
      if (href) node = linkEl(doc, href, m[2]);
    } else {
      // Sentence punctuation after a bare URL belongs to the sentence.
      var raw = m[4].replace(/[.,;:!?)\]}'"]+$/, '');
      href = safeHref(raw);
      if (href) {
        node = linkEl(doc, href, raw);
        end = m.index + raw.length;
        re.lastIndex = end;
      }
    }
    if (!node) continue;
    if (m.index > last) parent.appendChild(doc.createTextNode(text.slice(last, m.index)));
    parent.appendChild(node);
    last = end;
  }
  if (last < text.length) parent.appendChild(doc.createTextNode(text.slice(last)));
}

function renderRich(parent, text) {
  var doc = parent.ownerDocument, lines = String(text).split(/\r?\n/), list = null, para = null;
  for (var i = 0; i < lines.length; i++) {
    var line = lines[i], item = /^\s*[-*•]\s+(.*)$/.exec(line);
    if (item) {
      if (!list) list = parent.appendChild(doc.createElement('ul'));
      appendInline(list.appendChild(doc.createElement('li')), item[1]);
      para = null;
      continue;
    }
    list = null;
    if (!line.trim()) {
      para = null;
      continue;
    }
    if (para) para.appendChild(doc.createElement('br'));
    else para = parent.appendChild(doc.createElement('p'));
    appendInline(para, line);
  }
}

// Links for a bot answer's sources; deduplicated because several chunks of one
// document often back the same answer.
function renderSources(parent, sources, label) {
  var doc = parent.ownerDocument, seen = {}, ul = null;
  for (var i = 0; i < (sources || []).length; i++) {
    var s = sources[i] || {}, title = String(s.title || s.url || '').slice(0, 200);
    var href = s.url ? safeHref(String(s.url)) : null, k = href || title;
    if (!title || seen[k]) continue;
    seen[k] = 1;
    if (!ul) {
      var box = parent.appendChild(doc.createElement('div'));
      box.className = 'src';
      box.appendChild(doc.createElement('span')).textContent = label;
      ul = box.appendChild(doc.createElement('ul'));
    }
    var li = ul.appendChild(doc.createElement('li'));
    if (href) li.appendChild(linkEl(doc, href, title));
    else li.textContent = title;
  }
}
