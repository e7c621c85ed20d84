// Insights (owners and admins; the server refuses anyone else): a period picker, figures
// and charts from GET /v1/insights. Charts are CSS bars (no chart library, nothing from a
// CDN); each has a text alternative: an aria-label summary and a data table beside it.
// It builds its own button and section; every value goes in through textContent.
addStrings({
  en: {
    'insights.button': 'Insights', 'insights.back': 'Conversations', 'insights.title': 'Insights',
    'insights.from': 'From', 'insights.to': 'To', 'insights.show': 'Show',
    'insights.last7': 'Last 7 days', 'insights.last30': 'Last 30 days', 'insights.last90': 'Last 90 days',
    'insights.loading': 'Loading…', 'insights.error': 'Error: {}',
    'insights.total': 'Conversations', 'insights.botonly': 'Answered by the bot alone',
    'insights.handed': 'Handed to a person', 'insights.first': 'First response (median / p90)',
    'insights.resolution': 'Resolution time (median / p90)', 'insights.csat': 'CSAT average',
    'insights.perday': 'Conversations per day', 'insights.hours': 'Busiest hours ({})',
    'insights.dist': 'CSAT distribution', 'insights.unanswered': 'Top unanswered questions',
    'insights.none': 'None in this period.', 'insights.col.date': 'Date',
    'insights.col.hour': 'Hour', 'insights.col.score': 'Score', 'insights.col.count': 'Count',
    'insights.col.question': 'Question', 'insights.col.asked': 'Asked',
    'insights.perday.alt': '{} conversations over the period; the busiest day is shown first in the table.',
    'insights.hours.alt': 'Conversations started by hour of day; busiest hour: {}.',
    'insights.dist.alt': 'Ratings from 1 to 5: {}.', 'insights.table': 'Show the figures as a table',
    'insights.na': '—', 'insights.rated': '{} ratings'
  },
  th: {
    'insights.button': 'ข้อมูลเชิงลึก', 'insights.back': 'บทสนทนา', 'insights.title': 'ข้อมูลเชิงลึก',
    'insights.from': 'ตั้งแต่', 'insights.to': 'ถึง', 'insights.show': 'แสดง',
    'insights.last7': '7 วันล่าสุด', 'insights.last30': '30 วันล่าสุด', 'insights.last90': '90 วันล่าสุด',
    'insights.loading': 'กำลังโหลด…', 'insights.error': 'ข้อผิดพลาด: {}',
    'insights.total': 'บทสนทนา', 'insights.botonly': 'บอทตอบเองทั้งหมด',
    'insights.handed': 'ส่งต่อให้เจ้าหน้าที่', 'insights.first': 'เวลาตอบครั้งแรก (มัธยฐาน / p90)',
    'insights.resolution': 'เวลาปิดเรื่อง (มัธยฐาน / p90)', 'insights.csat': 'คะแนนความพึงพอใจเฉลี่ย',
    'insights.perday': 'บทสนทนาต่อวัน', 'insights.hours': 'ช่วงเวลาที่มีผู้ติดต่อมากที่สุด ({})',
    'insights.dist': 'การกระจายคะแนนความพึงพอใจ', 'insights.unanswered': 'คำถามที่ตอบไม่ได้บ่อยที่สุด',
    'insights.none': 'ไม่มีในช่วงนี้', 'insights.col.date': 'วันที่',
    'insights.col.hour': 'ชั่วโมง', 'insights.col.score': 'คะแนน', 'insights.col.count': 'จำนวน',
    'insights.col.question': 'คำถาม', 'insights.col.asked': 'จำนวนครั้ง',
    'insights.perday.alt': 'บทสนทนาทั้งหมด {} รายการในช่วงนี้',
    'insights.hours.alt': 'บทสนทนาที่เริ่มในแต่ละชั่วโมง ชั่วโมงที่มากที่สุด: {}',
    'insights.dist.alt': 'คะแนน 1 ถึง 5: {}', 'insights.table': 'แสดงตัวเลขเป็นตาราง',
    'insights.na': '—', 'insights.rated': '{} คะแนน'
  }
});

function createInsightsView(token) {
  var $ = function (id) { return document.getElementById(id); };
  var last = null;
  var zone = (Intl.DateTimeFormat().resolvedOptions().timeZone) || 'UTC';

  var button = el('button', null, tr('insights.button'));
  button.id = 'insights-toggle';
  button.type = 'button';
  button.hidden = true;
  $('logout').before(button);
  var section = el('section', 'audit insights');
  section.id = 'insights';
  section.setAttribute('aria-labelledby', 'insights-title');
  section.hidden = true;
  $('app').appendChild(section);

  function i18n(node, key) { node.dataset.i18n = key; node.textContent = tr(key); return node; }

  var title = section.appendChild(i18n(el('h2'), 'insights.title'));
  title.id = 'insights-title';
  var form = section.appendChild(el('form', 'audit-filters'));
  form.id = 'insights-period';
  function dateField(id, key) {
    var label = form.appendChild(el('label'));
    label.appendChild(i18n(el('span'), key));
    var input = label.appendChild(el('input'));
    input.type = 'date';
    input.id = id;
    input.required = true;
    return input;
  }
  var from = dateField('insights-from', 'insights.from');
  var to = dateField('insights-to', 'insights.to');
  var go = form.appendChild(i18n(el('button'), 'insights.show'));
  go.type = 'submit';
  [[7, 'insights.last7'], [30, 'insights.last30'], [90, 'insights.last90']].forEach(function (p) {
    var b = form.appendChild(i18n(el('button', 'preset'), p[1]));
    b.type = 'button';
    b.dataset.days = String(p[0]);
    b.addEventListener('click', function () { preset(p[0]); load(); });
  });
  var statusLine = section.appendChild(el('p', 'sub'));
  statusLine.id = 'insights-status';
  statusLine.setAttribute('role', 'status');
  var body = section.appendChild(el('div', 'insights-body'));
  body.id = 'insights-body';

  function iso(d) { return d.toISOString().slice(0, 10); }

  function preset(days) {
    var end = new Date();
    var start = new Date(end.getTime() - (days - 1) * 86400000);
    from.value = iso(start);
    to.value = iso(end);
  }

  function duration(ms) {
    if (ms == null) return tr('insights.na');
    if (ms < 1000) return Math.round(ms) + ' ms';
    var s = Math.round(ms / 1000);
    if (s < 60) return s + ' s';
    var m = Math.round(s / 60);
    if (m < 120) return m + ' min';
    return (m / 60).toFixed(1) + ' h';
  }

  function tile(key, value, id) {
    var t = el('div', 'tile');
    t.appendChild(i18n(el('span', 'label'), key));
    var v = t.appendChild(el('strong', 'value', value));
    v.id = id;
    return t;
  }

  // a bar chart: role=img with a summary for screen readers, then the same figures in a
  // table (inside <details>, so sighted users may open it too)
  function chart(id, titleKey, titleArg, alt, items, columns, legend) {
    var box = el('figure', 'chart');
    box.id = id;
    var cap = box.appendChild(el('figcaption', null, tr(titleKey, titleArg)));
    cap.id = id + '-title';
    (legend || []).forEach(function (l) {
      var key = cap.appendChild(el('span', 'legend'));
      key.appendChild(el('span', 'swatch ' + l[0])).setAttribute('aria-hidden', 'true');
      key.appendChild(document.createTextNode(tr(l[1])));
    });
    var bars = box.appendChild(el('div', 'bars'));
    bars.setAttribute('role', 'img');
    bars.setAttribute('aria-label', alt);
    var top = Math.max(1, Math.max.apply(null, items.map(function (i) { return i.total; })));
    items.forEach(function (i) {
      var col = bars.appendChild(el('div', 'bar'));
      col.title = i.label + ': ' + i.total;
      col.dataset.value = String(i.total);
      (i.parts || [{ value: i.total, cls: 'a' }]).forEach(function (p) {
        var seg = col.appendChild(el('span', 'seg ' + p.cls));
        seg.style.height = (100 * p.value / top) + '%';
      });
      col.appendChild(el('span', 'tick', i.short || ''));
    });
    var details = box.appendChild(el('details'));
    details.appendChild(el('summary', null, tr('insights.table')));
    var table = details.appendChild(el('table'));
    var head = table.appendChild(el('thead')).appendChild(el('tr'));
    columns.forEach(function (c) { head.appendChild(el('th', null, c)).scope = 'col'; });
    var rows = table.appendChild(el('tbody'));
    items.forEach(function (i) {
      var r = rows.appendChild(el('tr'));
      i.cells.forEach(function (c) { r.appendChild(el('td', null, String(c))); });
    });
    return box;
  }

  function render(j) {
    body.replaceChildren();
    var tiles = body.appendChild(el('div', 'tiles'));
    tiles.appendChild(tile('insights.total', String(j.totals.conversations), 'insights-total'));
    tiles.appendChild(tile('insights.botonly', String(j.totals.bot_only), 'insights-botonly'));
    tiles.appendChild(tile('insights.handed', String(j.totals.handed_over), 'insights-handed'));
    tiles.appendChild(tile('insights.first', duration(j.first_response_ms.p50) + ' / ' +
                           duration(j.first_response_ms.p90), 'insights-first'));
    tiles.appendChild(tile('insights.resolution', duration(j.resolution_ms.p50) + ' / ' +
                           duration(j.resolution_ms.p90), 'insights-resolution'));
    tiles.appendChild(tile('insights.csat', j.csat.average == null ? tr('insights.na') :
                           j.csat.average.toFixed(2) + ' (' + tr('insights.rated', j.csat.n) + ')',
                           'insights-csat'));
    body.appendChild(chart('insights-days', 'insights.perday', undefined,
      tr('insights.perday.alt', j.totals.conversations),
      j.days.map(function (d) {
        return { label: d.date, short: d.date.slice(8), total: d.conversations,
                 parts: [{ value: d.bot_only, cls: 'a' }, { value: d.handed_over, cls: 'b' }],
                 cells: [d.date, d.conversations, d.bot_only, d.handed_over] };
      }),
      [tr('insights.col.date'), tr('insights.total'), tr('insights.botonly'), tr('insights.handed')],
      [['a', 'insights.botonly'], ['b', 'insights.handed']]));
    var busiest = j.busiest_hours.slice().sort(function (a, b) { return b.conversations - a.conversations; })[0];
    var hourName = function (h) { return (h < 10 ? '0' : '') + h + ':00'; };
    body.appendChild(chart('insights-hours', 'insights.hours', j.tz,
      tr('insights.hours.alt', busiest && busiest.conversations ? hourName(busiest.hour) : tr('insights.na')),
      j.busiest_hours.map(function (h) {
        return { label: hourName(h.hour), short: h.hour % 6 === 0 ? String(h.hour) : '',
                 total: h.conversations, cells: [hourName(h.hour), h.conversations] };
      }),
      [tr('insights.col.hour'), tr('insights.total')]));
    var scores = ['1', '2', '3', '4', '5'];
    body.appendChild(chart('insights-csat-dist', 'insights.dist', undefined,
      tr('insights.dist.alt', scores.map(function (s) { return s + ': ' + j.csat.counts[s]; }).join(', ')),
      scores.map(function (s) {
        return { label: s, short: s, total: j.csat.counts[s], cells: [s, j.csat.counts[s]] };
      }),
      [tr('insights.col.score'), tr('insights.col.count')]));
    var q = body.appendChild(el('section', 'unanswered'));
    q.setAttribute('aria-labelledby', 'insights-unanswered-title');
    var h = q.appendChild(el('h3', null, tr('insights.unanswered')));
    h.id = 'insights-unanswered-title';
    if (!j.top_unanswered.length) {
      q.appendChild(el('p', 'sub', tr('insights.none')));
    } else {
      var table = q.appendChild(el('table'));
      table.id = 'insights-unanswered';
      var head = table.appendChild(el('thead')).appendChild(el('tr'));
      [tr('insights.col.question'), tr('insights.col.asked')].forEach(function (c) {
        head.appendChild(el('th', null, c)).scope = 'col';
      });
      var rows = table.appendChild(el('tbody'));
      j.top_unanswered.forEach(function (u) {
        var r = rows.appendChild(el('tr'));
        r.appendChild(el('td', null, u.question));
        r.appendChild(el('td', null, String(u.count)));
      });
    }
  }

  function load() {
    if (!from.value || !to.value) preset(30);
    statusLine.textContent = tr('insights.loading');
    var q = new URLSearchParams({ from: from.value, to: to.value, tz: zone });
    return requestJSON('GET', '/v1/insights?' + q.toString(), token()).then(function (j) {
      last = j;
      render(j);
      statusLine.textContent = '';
    }, function (err) { statusLine.textContent = tr('insights.error', err.message); });
  }

  form.addEventListener('submit', function (e) { e.preventDefault(); load(); });
  onLocaleChange(function () {
    translatePage(section);
    button.textContent = tr(section.hidden ? 'insights.button' : 'insights.back');
    if (last) render(last);
  });

  function show(on) {
    if (on) {
      document.querySelectorAll('#app > section, #desk-lists').forEach(function (s) {
        if (s !== section) s.hidden = true;
      });
      translatePage(section);
      load();
    } else {
      $('desk-lists').hidden = false;
      $('desk-convo').hidden = false;
    }
    section.hidden = !on;
    button.textContent = tr(on ? 'insights.back' : 'insights.button');
  }

  button.addEventListener('click', function () { show(section.hidden); });

  return {
    allow: function (on) {
      button.hidden = !on;
      if (!on && !section.hidden) show(false);
    },
    show: show,
    shown: function () { return !section.hidden; }
  };
}
