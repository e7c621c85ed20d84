/*! Clienta | AGPL-3.0-or-later */
// Renders /openapi.json as a readable page: operations by tag, their parameters, bodies
// and answers. All text goes in through textContent: nothing in the document is markup.
(function () {
  "use strict";
  var root = document.getElementById("api");
  var doc = null;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function resolve(obj) {
    var seen = 0;
    while (obj && obj.$ref && seen < 20) {
      var parts = obj.$ref.replace(/^#\//, "").split("/");
      obj = parts.reduce(function (o, key) { return o ? o[key] : undefined; }, doc);
      seen += 1;
    }
    return obj || {};
  }

  function typeOf(schema) {
    if (schema.$ref) return schema.$ref.split("/").pop();
    if (schema.const !== undefined) return JSON.stringify(schema.const);
    if (schema.enum) return schema.enum.map(function (v) { return JSON.stringify(v); }).join(" | ");
    if (schema.anyOf) return schema.anyOf.map(typeOf).join(" | ");
    var type = Array.isArray(schema.type) ? schema.type.join(" | ") : (schema.type || "any");
    if (type === "array" && schema.items) return typeOf(schema.items) + "[]";
    if (schema.format) type += " (" + schema.format + ")";
    return type;
  }

  function limits(schema) {
    var out = [];
    ["minLength", "maxLength", "minimum", "maximum", "maxItems", "pattern", "default"].forEach(function (k) {
      if (schema[k] !== undefined) out.push(k + " " + schema[k]);
    });
    return out.join(", ");
  }

  // A schema as indented text, references expanded once per path
  function describe(schema, indent, trail) {
    var pad = new Array(indent + 1).join("  ");
    var name = schema.$ref ? schema.$ref.split("/").pop() : null;
    if (name && trail.indexOf(name) >= 0) return pad + name + " (see above)\n";
    var real = resolve(schema);
    var next = name ? trail.concat([name]) : trail;
    if (real.type === "array" && real.items) {
      return pad + "array of:\n" + describe(real.items, indent + 1, next);
    }
    if (!real.properties) return pad + typeOf(schema) + (limits(real) ? "  [" + limits(real) + "]" : "") + "\n";
    var required = real.required || [];
    var text = "";
    Object.keys(real.properties).forEach(function (key) {
      var prop = real.properties[key];
      var resolved = resolve(prop);
      var line = pad + key + (required.indexOf(key) >= 0 ? "" : "?") + ": " + typeOf(prop);
      var lim = limits(resolved);
      if (lim) line += "  [" + lim + "]";
      if (resolved.description) line += "  — " + resolved.description;
      text += line + "\n";
      if ((resolved.properties || (resolved.type === "array" && resolved.items && resolve(resolved.items).properties)) && indent < 6) {
        text += describe(prop, indent + 1, next);
      }
    });
    return text;
  }

  function security(op) {
    var reqs = op.security !== undefined ? op.security : (doc.security || []);
    if (!reqs.length) return "No authentication";
    return "Auth: " + reqs.map(function (r) { return Object.keys(r).join(" + "); }).join(" or ");
  }

  function parameters(op, pathItem) {
    var params = (pathItem.parameters || []).concat(op.parameters || []).map(resolve);
    if (!params.length) return null;
    var table = el("table");
    var head = el("tr");
    ["name", "in", "type", "notes"].forEach(function (h) { head.appendChild(el("th", h)); });
    table.appendChild(head);
    params.forEach(function (p) {
      var row = el("tr");
      row.appendChild(el("td", p.name + (p.required ? "" : "?")));
      row.appendChild(el("td", p.in));
      row.appendChild(el("td", typeOf(p.schema || {})));
      row.appendChild(el("td", [p.description, limits(resolve(p.schema || {}))].filter(Boolean).join("; ")));
      table.appendChild(row);
    });
    return table;
  }

  function content(box, media) {
    Object.keys(media || {}).forEach(function (type) {
      box.appendChild(el("div", type));
      if (media[type].schema) box.appendChild(el("pre", describe(media[type].schema, 0, [])));
    });
  }

  function operation(path, method, op, pathItem) {
    var box = el("section", null, "op");
    box.id = op.operationId || (method + path);
    var title = el("h3");
    title.appendChild(el("span", method, "method " + method));
    title.appendChild(document.createTextNode(path));
    if (op.summary) title.appendChild(el("span", op.summary, "summary"));
    box.appendChild(title);
    box.appendChild(el("div", security(op), "auth"));
    if (op.description) box.appendChild(el("p", op.description, "desc"));
    var params = parameters(op, pathItem);
    if (params) { box.appendChild(el("h4", "Parameters")); box.appendChild(params); }
    if (op.requestBody) {
      var body = resolve(op.requestBody);
      box.appendChild(el("h4", "Body" + (body.required ? "" : " (optional)")));
      content(box, body.content);
    }
    box.appendChild(el("h4", "Answers"));
    Object.keys(op.responses || {}).forEach(function (status) {
      var response = resolve(op.responses[status]);
      var line = el("div");
      line.appendChild(el("span", status + " ", "status"));
      line.appendChild(document.createTextNode(response.description || ""));
      box.appendChild(line);
      if (status.charAt(0) === "2") content(box, response.content);
    });
    return box;
  }

  function render() {
    root.textContent = "";
    root.appendChild(el("h1", doc.info.title));
    var links = el("p");
    var raw = el("a", "openapi.json");
    raw.href = "/openapi.json";
    links.appendChild(document.createTextNode("OpenAPI " + doc.openapi + " · "));
    links.appendChild(raw);
    root.appendChild(links);
    root.appendChild(el("p", doc.info.description, "desc"));
    var errors = el("section");
    errors.appendChild(el("h2", "Errors"));
    errors.appendChild(el("pre", describe({$ref: "#/components/schemas/Error"}, 0, [])));
    root.appendChild(errors);
    var groups = {};
    (doc.tags || []).forEach(function (t) { groups[t.name] = []; });
    Object.keys(doc.paths).forEach(function (path) {
      var item = doc.paths[path];
      ["get", "post", "put", "patch", "delete"].forEach(function (method) {
        if (!item[method]) return;
        var tag = (item[method].tags || ["other"])[0];
        (groups[tag] = groups[tag] || []).push(operation(path, method, item[method], item));
      });
    });
    Object.keys(groups).forEach(function (tag) {
      var section = el("section");
      var info = (doc.tags || []).filter(function (t) { return t.name === tag; })[0];
      section.appendChild(el("h2", info && info.description ? tag + " — " + info.description : tag));
      groups[tag].forEach(function (op) { section.appendChild(op); });
      root.appendChild(section);
    });
  }

  fetch("/openapi.json", {credentials: "omit"})
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(function (json) { doc = json; render(); })
    .catch(function (err) { root.textContent = "Could not load /openapi.json: " + err.message; });
})();
