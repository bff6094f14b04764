/* LatentLoop's page namespace, shared by the other scripts of app/assets/ (Dash loads them sorted
 * by file name, so this one comes first).
 *
 *   LL.on(name, fn) / LL.emit(name, data)  a tiny event bus: a script reacts to another's action
 *                                          by subscribing, never by wrapping its functions;
 *   LL.graph(id)                           the plotly div of the dcc.Graph with that id;
 *   LL.trace(name)                         a trace index of the map's figures, as the server made
 *                                          them (app/layouts/page.py "ll-traces");
 *   LL.classes()                           the dataset's class names, their colours, how many keys
 *                                          (0-9) and buttons there are, the number of training
 *                                          samples (page.py "ll-classes");
 *   LL.className(c)                        class c's name (the number for none);
 *   LL.esc(text)                           text escaped for markup;
 *   "graph-ready" {id, gd}                 emitted once per plotly div as soon as plotly has set it
 *                                          up (its .on works), so nobody polls for graphs.
 *
 * Events: "graph-ready", "ready" (Dash rendered the stores: the first acknowledgement),
 * "select" {serial}, "label" {seq, serial, label}, "ack" {seq}, "server-ring" {serial, xy}.
 */
(function () {
  "use strict";
  var LL = (window.LL = window.LL || {});

  var handlers = {};
  LL.on = function (name, fn) {
    (handlers[name] = handlers[name] || []).push(fn);
  };
  LL.emit = function (name, data) {
    var fns = (handlers[name] || []).slice();
    for (var i = 0; i < fns.length; i++) {
      try {
        fns[i](data);
      } catch (err) {
        console.error("LL." + name + " handler failed", err); // one script's bug must not stop the others
      }
    }
  };

  LL.graph = function (id) { return document.querySelector("#" + id + " .js-plotly-plot"); };

  var traces = null;
  LL.trace = function (name) {
    if (!traces) {
      var el = document.getElementById("ll-traces");
      if (!el) return undefined; // not rendered yet: no graph to address either
      traces = {};
      for (var k in el.dataset) traces[k] = +el.dataset[k];
    }
    return traces[name];
  };

  var classes = null;
  LL.classes = function () {
    if (!classes) {
      var el = document.getElementById("ll-classes");
      if (!el) return { names: [], colours: [], keys: 10, few: 20, nTrain: 0 };
      classes = {
        names: JSON.parse(el.dataset.names || "[]"),
        colours: JSON.parse(el.dataset.colours || "[]"),
        keys: +el.dataset.keys,
        few: +el.dataset.few,
        nTrain: +el.dataset.nTrain,
      };
    }
    return classes;
  };
  LL.className = function (c) {
    var names = LL.classes().names;
    return c >= 0 && c < names.length ? names[c] : String(c);
  };
  // Text for markup (sample.js, xai.js write panels as HTML): every name and message goes through it.
  LL.esc = function (text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  };
  // A name where space is tight (app/classnames.py short): cut with an ellipsis.
  LL.shortName = function (name, width) {
    width = width || 14;
    return name.length <= width ? name : name.slice(0, width - 1) + "\u2026";
  };

  // Plotly marks a graph's div with the class js-plotly-plot once the div is set up (events
  // included); dcc.Graph may also replace the div. Each new one is announced once.
  function announceGraphs() {
    var gds = document.querySelectorAll(".js-plotly-plot");
    for (var i = 0; i < gds.length; i++) {
      var gd = gds[i], host = gd.parentElement && gd.parentElement.closest("[id]");
      if (gd.__llReady || typeof gd.on !== "function" || !host) continue;
      gd.__llReady = true;
      LL.emit("graph-ready", { id: host.id, gd: gd });
    }
  }
  new MutationObserver(announceGraphs).observe(document.documentElement, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ["class"],
  });
})();
