/* The small map's overlay: the transparent graph of labelled points on top of the big one
 * (app/figures.py). The big graph takes the mouse; the overlay follows its axis ranges, paints a
 * typed label at the keypress, and lends its labels to the big graph's hover.
 */
(function () {
  "use strict";
  var LL = window.LL;
  LL.plots = 0; // number of plotly_afterplot events on the map
  LL.overlayPlots = 0;

  // Optimistic paint: the labelled point is drawn in its new colour at the keypress, in the
  // overlay's "pending" trace, and dropped there once the server has acknowledged the event (its
  // own Patch then shows the label, or a notice says why not). The CSV is written by the server.
  // The trace is set in place and redrawn with Plotly.redraw, not through Dash (set_props): a Dash
  // store update costs the page tens of ms, right when the server's answer comes in. The trace
  // object is the one in Dash's copy of the figure, so the server's later Patches keep it.
  // (The density map paints its own way, bigmap.js; both keep LL.pending.)
  LL.pending = [];
  function overlayReady() {
    var ov = LL.graph("latent-overlay");
    return ov && ov.data && ov.data.length > LL.trace("pending") && window.Plotly ? ov : null;
  }
  function showPending(ov) {
    var t = ov.data[LL.trace("pending")], keep = LL.pending;
    t.x = keep.map(function (e) { return e.x; });
    t.y = keep.map(function (e) { return e.y; });
    t.marker = Object.assign({}, t.marker, { color: keep.map(function (e) { return e.label; }) });
    t.customdata = keep.map(function (e) { return [e.serial, e.label, e.seq]; });
    window.Plotly.redraw(ov);
  }
  function drawPending(seq, serial, label) {
    var base = LL.graph("latent-map"), ov = overlayReady();
    var fd = base && base._fullData && base._fullData[LL.trace("base")];
    if (!ov || !fd || !fd.x || serial >= fd._length) return;
    LL.pending.push({ seq: seq, x: fd.x[serial], y: fd.y[serial], serial: serial, label: label });
    showPending(ov);
  }
  LL.on("label", function (ev) {
    // A moment later: the redraw must not hold up the request Dash is about to send.
    setTimeout(function () {
      if (LL.outbox.some(function (e) { return e.seq === ev.seq; })) drawPending(ev.seq, ev.serial, ev.label);
    }, 25);
  });
  LL.on("ack", function (ev) {
    var keep = LL.pending.filter(function (e) { return e.seq > ev.seq; }), ov = overlayReady();
    var changed = keep.length !== LL.pending.length;
    LL.pending = keep;
    if (changed && ov) showPending(ov);
  });

  // The overlay shows the big graph's window.
  function syncOverlay() {
    var base = LL.graph("latent-map"), ov = LL.graph("latent-overlay");
    if (!base || !ov || !base._fullLayout || !ov._fullLayout || !base._fullLayout.xaxis || !window.Plotly) return;
    var bx = base._fullLayout.xaxis.range, by = base._fullLayout.yaxis.range;
    var ox = ov._fullLayout.xaxis && ov._fullLayout.xaxis.range, oy = ov._fullLayout.yaxis && ov._fullLayout.yaxis.range;
    if (ox && oy && ox[0] === bx[0] && ox[1] === bx[1] && oy[0] === by[0] && oy[1] === by[1]) return;
    window.Plotly.relayout(ov, { "xaxis.range": bx.slice(), "yaxis.range": by.slice(),
                                 "xaxis.autorange": false, "yaxis.autorange": false });
  }
  var syncPending = false;
  function syncSoon() {
    if (syncPending) return;
    syncPending = true;
    requestAnimationFrame(function () { syncPending = false; syncOverlay(); });
  }

  // Hover labels: the big trace's customdata rows are [predicted, certainty]; for labelled points
  // the row in plotly's working copy is swapped for [predicted, certainty, label], so the hover
  // template shows the label without re-sending (or redrawing) the big trace. A dataset with class
  // names (classes.json) has every row's class numbers swapped for names the same way, once per
  // trace; the digits' names are the numbers, so MNIST's rows stay as they came.
  var patchedRows = new WeakMap(); // fullData trace -> Map(serial -> original row)
  var namedRows = new WeakSet();
  function named() {
    var names = LL.classes().names;
    for (var c = 0; c < names.length; c++) if (names[c] !== String(c)) return true;
    return false;
  }
  function nameRows(fd) {
    if (namedRows.has(fd) || !named()) return;
    namedRows.add(fd);
    var rows = fd.customdata;
    for (var i = 0; i < rows.length; i++) if (rows[i]) rows[i] = [LL.className(rows[i][0]), rows[i][1]];
  }
  function labelledFromOverlay() {
    var ov = LL.graph("latent-overlay"), out = new Map();
    var t = ov && ov.data && ov.data[LL.trace("overlay")];
    if (!t || !t.customdata) return out;
    for (var i = 0; i < t.customdata.length; i++) {
      var c = t.customdata[i];
      if (c && t.x[i] !== null) out.set(c[0], c[1]);
    }
    return out;
  }
  function applyHoverLabels() {
    var base = LL.graph("latent-map");
    var fd = base && base._fullData && base._fullData[LL.trace("base")];
    if (!fd || !fd.customdata || !fd.customdata.length) return;
    nameRows(fd);
    var rows = fd.customdata, saved = patchedRows.get(fd), byName = named();
    if (!saved) { saved = new Map(); patchedRows.set(fd, saved); }
    var labelled = labelledFromOverlay();
    saved.forEach(function (orig, s) { if (!labelled.has(s)) { rows[s] = orig; saved.delete(s); } });
    labelled.forEach(function (lab, s) {
      if (s >= rows.length) return;
      if (!saved.has(s)) saved.set(s, rows[s]);
      var o = saved.get(s);
      rows[s] = [o[0], o[1], byName ? LL.className(lab) : lab];
    });
  }

  LL.on("graph-ready", function (g) {
    if (g.id === "latent-map") {
      g.gd.on("plotly_afterplot", function () {
        LL.plots += 1; LL.lastPlot = performance.now(); syncOverlay(); applyHoverLabels();
      });
      g.gd.on("plotly_relayout", syncOverlay);
      g.gd.on("plotly_relayouting", syncSoon);
    } else if (g.id === "latent-overlay") {
      g.gd.on("plotly_afterplot", function () { LL.overlayPlots += 1; syncOverlay(); applyHoverLabels(); });
    }
  });
})();
