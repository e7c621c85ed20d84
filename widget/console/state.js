// What the agent sees of the org: conversation summaries by id, grouped for the
// side lists, and the one open conversation's transcript state.
function createDesk() {
  var convs = {};
  return {
    get: function (id) { return convs[id]; },
    put: function (c) {
      if (!c || !c.id) return null;
      convs[c.id] = Object.assign(convs[c.id] || {}, c);
      return convs[c.id];
    },
    remove: function (id) { delete convs[id]; },
    clear: function () {
      for (var k in convs) delete convs[k];
    },
    // Mine: taken by this agent. Queued: oldest first, as they wait in line.
    groups: function (meId) {
      var g = { mine: [], queued: [], other: [] };
      Object.keys(convs).forEach(function (id) {
        var c = convs[id];
        if (c.mode === 'agent' && c.assignee_id != null && c.assignee_id === meId) g.mine.push(c);
        else if (c.mode === 'queued') g.queued.push(c);
        else g.other.push(c);
      });
      function newest(a, b) { return String(b.updated_at || '').localeCompare(String(a.updated_at || '')); }
      g.mine.sort(newest);
      g.other.sort(newest);
      g.queued.sort(function (a, b) { return newest(b, a); });
      return g;
    }
  };
}

function createRoom(id) {
  // seq: resume point for re-joining after a reconnect; pending: replies not yet acked.
  return { id: id, seq: 0, seen: {}, streams: {}, done: {}, pending: {}, mode: null, visitor: null };
}

function visitorLabel(v, id) {
  v = v || {};
  return v.name || v.email || 'Visitor ' + String(v.id || id || '').slice(0, 8);
}
