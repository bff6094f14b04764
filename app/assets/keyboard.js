/* LatentLoop keyboard and pointer input.
 *
 * Every user action that changes labels or the selection becomes an event {seq, kind, ...} with a
 * per-tab sequence number. Events wait in an outbox that is written, whole, into the dcc.Store
 * "ll-events" (dash_clientside.set_props) until the server acknowledges them through "ll-ack".
 * Re-sending is what makes fast typing safe: Dash may merge quick store updates into one request
 * or drop an older request's answer, but the server applies each (tab, seq) exactly once and in
 * order, so every press counts once whatever Dash does with the requests.
 *
 * The selection lives here, not on the server, so "click, then press 3" labels the clicked point
 * even before the click's request has come back.
 */
(function () {
  "use strict";
  var LL = (window.LL = window.LL || {});
  LL.client = Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
  LL.seq = 0;
  LL.outbox = [];
  LL.selected = null;
  LL.queue = [];
  LL.ready = false; // set once Dash has rendered the stores (first clientside callback)
  LL.keyTimes = {}; // seq -> performance.now() at the key press (benchmarks read this)
  LL.plots = 0; // number of plotly_afterplot events on the map
  var MAX_OUTBOX = 1000;

  function graph(id) { return document.querySelector("#" + id + " .js-plotly-plot"); }
  LL.graph = graph;

  function flush() {
    var dc = window.dash_clientside;
    if (!LL.ready || !dc || !dc.set_props) return; // sent once ready
    dc.set_props("ll-events", { data: { client: LL.client, events: LL.outbox.slice() } });
  }
  LL.flush = flush;

  LL.send = function (ev) {
    ev.seq = ++LL.seq;
    LL.outbox.push(ev);
    if (LL.outbox.length > MAX_OUTBOX) LL.outbox.shift();
    flush();
    return ev.seq;
  };

  // The server answers a label with the overlay's recolour only (app/services/sync.py); the
  // panels (sample, counts, queue) come with one more sync, sent once that answer is drawn.
  LL.syncs = 0;
  LL.more = false; // the newest answer was lean: the panels' sync is under way
  LL.followUp = function () {
    requestAnimationFrame(function () {
      setTimeout(function () {
        var dc = window.dash_clientside;
        if (dc && dc.set_props) dc.set_props("ll-events", { data: { client: LL.client, events: LL.outbox.slice(), n: ++LL.syncs } });
      }, 0);
    });
  };

  LL.ack = function (seq) {
    if (typeof seq !== "number" || !seq) return;
    LL.outbox = LL.outbox.filter(function (e) { return e.seq > seq; });
    clearPending(seq);
  };

  LL.notice = function (text) {
    var dc = window.dash_clientside;
    if (dc && dc.set_props) dc.set_props("notice", { children: text });
  };

  function markQueue() {
    var items = document.querySelectorAll(".ll-queue-item");
    for (var i = 0; i < items.length; i++) {
      var on = +items[i].getAttribute("data-serial") === LL.selected;
      items[i].classList.toggle("selected", on);
      if (on && items[i].scrollIntoView) items[i].scrollIntoView({ block: "nearest" });
    }
  }
  LL.markQueue = markQueue;

  // The selection ring is a plain element over the map (#map-ring, app/assets/style.css), placed
  // from the big graph's axes: moving it costs no plotly work at all (a trace or a shape in a
  // figure makes plotly recalculate and redraw the overlay's WebGL canvas, ~tens of ms of CPU per
  // selection in software rendering). Its point: the map's own coordinates of the selection, or,
  // on the density map of a very large dataset (no per-point arrays), the server's (LL.setServerRing).
  LL.rings = 0; // ring placements that moved it (tests read it)
  LL.serverRing = null;
  function ringAt(serial) {
    var gd = graph("latent-map"), fd = gd && gd._fullData && gd._fullData[0], meta = gd && gd.layout && gd.layout.meta;
    if (serial === null) return null;
    return fd && fd.x && meta && fd._length === meta.n && serial < fd._length ? [fd.x[serial], fd.y[serial]] : undefined;
  }
  var ringPlace = "";
  function placeRing() {
    var el = document.getElementById("map-ring"), gd = graph("latent-map"), fl = gd && gd._fullLayout;
    if (!el || !fl || !fl.xaxis || !fl.xaxis.l2p || !fl._size) return;
    var xy = ringAt(LL.selected);
    if (xy === undefined) xy = LL.serverRing;
    var px = xy ? fl._size.l + fl.xaxis.l2p(xy[0]) : NaN, py = xy ? fl._size.t + fl.yaxis.l2p(xy[1]) : NaN;
    var inside = px >= fl._size.l && px <= fl._size.l + fl._size.w && py >= fl._size.t && py <= fl._size.t + fl._size.h;
    var place = inside ? px.toFixed(1) + "," + py.toFixed(1) : "";
    if (place === ringPlace) return;
    ringPlace = place;
    LL.rings += 1;
    el.style.display = inside ? "block" : "none";
    if (inside) { el.style.left = px + "px"; el.style.top = py + "px"; }
  }
  LL.setServerRing = function (xy) {
    LL.serverRing = xy || null;
    if (xy && LL.selected !== null && LL.onServerRing) LL.onServerRing(LL.selected, xy);
    placeRing();
  };

  LL.select = function (serial) {
    LL.selected = serial === null || serial === undefined ? null : serial | 0;
    markQueue();
    placeRing(); // at the click (the density map's waits for the server)
    return LL.send(LL.selected === null ? { kind: "clear" } : { kind: "select", serial: LL.selected });
  };

  LL.label = function (label) {
    if (LL.selected === null) {
      LL.notice("select a sample first (click a point or press n)");
      return null;
    }
    var seq = LL.send({ kind: "label", serial: LL.selected, label: label }), serial = LL.selected;
    // A moment later: the redraw must not hold up the request Dash is about to send.
    setTimeout(function () { if (LL.outbox.some(function (e) { return e.seq === seq; })) drawPending(seq, serial, label); }, 25);
    return seq;
  };

  // Optimistic paint: the labelled point is drawn in its new colour at the keypress, in the
  // overlay's "pending" trace, and dropped there once the server has acknowledged the event (its
  // own Patch then shows the label, or a notice says why not). The CSV is written by the server.
  // The trace is set in place and redrawn with Plotly.redraw, not through Dash (set_props): a Dash
  // store update costs the page tens of ms, right when the server's answer comes in. The trace
  // object is the one in Dash's copy of the figure, so the server's later Patches keep it.
  LL.pending = [];
  function overlayReady() {
    var ov = graph("latent-overlay");
    return ov && ov.data && ov.data.length >= 2 && window.Plotly ? ov : null;
  }
  function showPending(ov) {
    var t = ov.data[1], keep = LL.pending; // the pending trace (app/figures.py PENDING)
    t.x = keep.map(function (e) { return e.x; });
    t.y = keep.map(function (e) { return e.y; });
    t.marker = Object.assign({}, t.marker, { color: keep.map(function (e) { return e.label; }) });
    t.customdata = keep.map(function (e) { return [e.serial, e.label, e.seq]; });
    window.Plotly.redraw(ov);
  }
  function drawPending(seq, serial, label) {
    var base = graph("latent-map"), ov = overlayReady();
    var fd = base && base._fullData && base._fullData[0];
    if (!ov || !fd || !fd.x || serial >= fd._length) return;
    LL.pending.push({ seq: seq, x: fd.x[serial], y: fd.y[serial], serial: serial, label: label });
    showPending(ov);
  }
  function clearPending(seq) {
    var keep = LL.pending.filter(function (e) { return e.seq > seq; }), ov = overlayReady();
    var changed = keep.length !== LL.pending.length;
    LL.pending = keep;
    if (changed && ov) showPending(ov);
  }

  LL.undo = function () { return LL.send({ kind: "undo" }); };

  // "This label is right": the suspicious-labels queue stops suggesting it (labels.accepted.csv).
  LL.accept = function () {
    if (LL.selected === null) {
      LL.notice("select a labelled sample first");
      return null;
    }
    return LL.send({ kind: "accept", serial: LL.selected });
  };

  LL.step = function (delta) {
    var q = LL.queue || [];
    if (!q.length) return null;
    var i = q.indexOf(LL.selected);
    if (i < 0) i = delta > 0 ? 0 : q.length - 1;
    else i = Math.max(0, Math.min(q.length - 1, i + delta));
    return LL.select(q[i]);
  };

  function helpShown() { return document.body.classList.contains("ll-show-help"); }
  function toggleHelp(on) {
    document.body.classList.toggle("ll-show-help", on === undefined ? !helpShown() : on);
  }
  LL.toggleHelp = toggleHelp;

  var NOT_TEXT = { radio: 1, checkbox: 1, button: 1, submit: 1, reset: 1, range: 1, color: 1, file: 1, image: 1 };
  function typing(t) {
    if (!t || !t.tagName) return false;
    var tag = t.tagName;
    if (tag === "INPUT") return !NOT_TEXT[(t.type || "text").toLowerCase()];
    return t.isContentEditable || tag === "TEXTAREA" || tag === "SELECT";
  }

  LL.page = "label"; // set by the page switch (map.js): the labelling keys act on the Label page only
  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || typing(e.target) || e.altKey || e.metaKey) return;
    var k = e.key;
    if (LL.page !== "label" && k !== "?" && k !== "Escape") return;
    var seq = null;
    if (e.ctrlKey) {
      if ((k === "z" || k === "Z") && !e.repeat) { e.preventDefault(); seq = LL.undo(); }
    } else if (/^[0-9]$/.test(k)) {
      if (!e.repeat) { e.preventDefault(); seq = LL.label(+k); }
    } else if (k === "Backspace") {
      e.preventDefault();
      if (!e.repeat) seq = LL.undo();
    } else if (k === "n" || k === "ArrowRight" || k === "ArrowDown") {
      e.preventDefault(); seq = LL.step(1);
    } else if (k === "p" || k === "ArrowLeft" || k === "ArrowUp") {
      e.preventDefault(); seq = LL.step(-1);
    } else if (k === "a") {
      if (!e.repeat) { e.preventDefault(); seq = LL.accept(); }
    } else if (k === "Escape") {
      if (helpShown()) toggleHelp(false); else seq = LL.select(null);
    } else if (k === "?") {
      e.preventDefault(); toggleHelp();
    }
    if (seq !== null) LL.keyTimes[seq] = performance.now();
  });

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!t || !t.closest) return;
    var b = t.closest(".ll-label-btn");
    if (b) { LL.label(+b.getAttribute("data-label")); return; }
    if (t.closest(".ll-accept-btn")) { LL.accept(); return; }
    if (t.closest("#model-clear") && window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props("model-highlight", { data: null });
      return;
    }
    var q = t.closest(".ll-queue-item");
    if (q) { LL.select(+q.getAttribute("data-serial")); return; }
    if (t.closest("#help-button")) { toggleHelp(); return; }
    if (t.closest("#help-close") || t.id === "help-overlay") toggleHelp(false);
  });

  // The map is two stacked graphs (app/figures.py): the big one takes the mouse; the small
  // transparent one on top (labelled points, selection ring) follows its axis ranges.

  var syncPending = false;
  function syncOverlay() {
    placeRing();
    var base = graph("latent-map"), ov = graph("latent-overlay");
    if (!base || !ov || !base._fullLayout || !ov._fullLayout || !base._fullLayout.xaxis || !window.Plotly) return;
    var bx = base._fullLayout.xaxis.range, by = base._fullLayout.yaxis.range;
    var ox = ov._fullLayout.xaxis && ov._fullLayout.xaxis.range, oy = ov._fullLayout.yaxis && ov._fullLayout.yaxis.range;
    if (ox && oy && ox[0] === bx[0] && ox[1] === bx[1] && oy[0] === by[0] && oy[1] === by[1]) return;
    window.Plotly.relayout(ov, { "xaxis.range": bx.slice(), "yaxis.range": by.slice(),
                                 "xaxis.autorange": false, "yaxis.autorange": false });
  }
  function syncSoon() {
    if (syncPending) return;
    syncPending = true;
    requestAnimationFrame(function () { syncPending = false; syncOverlay(); });
  }
  LL.syncOverlay = syncOverlay;

  // Hover labels: the big trace's customdata rows are [predicted, certainty]; for labelled points
  // the row in plotly's working copy is swapped for [predicted, certainty, label], so the hover
  // template shows the label without re-sending (or redrawing) the big trace.
  var patchedRows = new WeakMap(); // fullData trace -> Map(serial -> original row)
  function labelledFromOverlay() {
    var ov = graph("latent-overlay"), out = new Map();
    var t = ov && ov.data && ov.data[0];
    if (!t || !t.customdata) return out;
    for (var i = 0; i < t.customdata.length; i++) {
      var c = t.customdata[i];
      if (c && t.x[i] !== null) out.set(c[0], c[1]);
    }
    return out;
  }
  function applyHoverLabels() {
    var base = graph("latent-map");
    var fd = base && base._fullData && base._fullData[0];
    if (!fd || !fd.customdata || !fd.customdata.length) return;
    var rows = fd.customdata, saved = patchedRows.get(fd);
    if (!saved) { saved = new Map(); patchedRows.set(fd, saved); }
    var labelled = labelledFromOverlay();
    saved.forEach(function (orig, s) { if (!labelled.has(s)) { rows[s] = orig; saved.delete(s); } });
    labelled.forEach(function (lab, s) {
      if (s >= rows.length) return;
      if (!saved.has(s)) saved.set(s, rows[s]);
      var o = saved.get(s);
      rows[s] = [o[0], o[1], lab];
    });
  }
  LL.applyHoverLabels = applyHoverLabels;

  // The colour mode's marker (map.js), set on the big trace once the graph shows the map version
  // it was made for (else at that version's afterplot); nothing when the trace has it already.
  // One Plotly.redraw: one replot, no Plotly.react, no relayout. (Plotly.restyle would replot the
  // same way, but its plotly_restyle event makes dcc.Graph set "restyleData", a Dash store update
  // that costs the page tens of ms before the frame shows.) gd.data is the array of Dash's copy of
  // the figure, so a later Patch of the figure keeps the marker.
  LL.wantColour = null;
  LL.recolours = 0;
  function sameValue(a, b) {
    if (a === b) return true;
    if (!a || !b || typeof a !== "object" || typeof b !== "object") return false;
    if (typeof a.bdata === "string") return a.bdata === b.bdata && a.dtype === b.dtype; // typed-array specs
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  function sameMarker(a, b) {
    if (!a) return false;
    var ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && kb.every(function (k) { return sameValue(a[k], b[k]); });
  }
  function applyColour() {
    var want = LL.wantColour, gd = graph("latent-map");
    if (!want || !gd || !gd.data || !gd.data[0] || !window.Plotly) return;
    var meta = gd.layout && gd.layout.meta;
    if (!meta || meta.version !== want.version) return;
    LL.wantColour = null;
    if (sameMarker(gd.data[0].marker, want.marker)) return;
    LL.recolours += 1;
    if (paintPalette(gd, want.marker)) {
      LL.paletteSwitches += 1;
      return;
    }
    gd.data[0].marker = want.marker;
    window.Plotly.redraw(gd);
  }
  LL.applyColour = applyColour;

  // A click on a colour mode is painted at once from the colour store ll.colour last saw (map.js),
  // not after Dash's callback round for the same change (tens of ms of the page's time here), which
  // then finds the marker in place. Modes whose colours come from the server wait for that round.
  LL.colourStore = null;
  document.addEventListener(
    "change",
    function (ev) {
      var t = ev.target, store = LL.colourStore;
      if (!t || !t.closest || !t.closest("#colour-mode") || !store || !store.modes) return;
      var m = store.modes[t.value];
      if (!m || t.value === "quality" || t.value === "probe") return;
      LL.wantColour = { version: store.version, marker: Object.assign({}, m) };
      applyColour();
    },
    true
  );

  // The fast switch for modes drawn from a few colours (app/figures.py: one colour, or a stepped
  // colorscale over integer values): plotly parses every point's colour on a replot (~0.5 s at
  // 70,000 points here, more than the frame itself), so the scatter's colour buffer is written
  // directly from the palette and the scene drawn once. Plotly's own copies (the trace in gd.data,
  // the scene's marker options) get the same colours, so any later replot agrees. Anything else
  // (sizes change, plotly's point tree, a layout it does not expect): false, and Plotly.redraw.
  LL.paletteSwitches = 0;
  var TYPED = { u1: Uint8Array, u2: Uint16Array, u4: Uint32Array, i1: Int8Array, i2: Int16Array, i4: Int32Array };
  function typedValues(spec) {
    if (ArrayBuffer.isView(spec)) return spec;
    if (!spec || typeof spec.bdata !== "string" || !TYPED[spec.dtype]) return null;
    var bin = atob(spec.bdata), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new TYPED[spec.dtype](bytes.buffer);
  }
  function paletteOf(marker) {
    if (typeof marker.color === "string") return [marker.color];
    var cs = marker.colorscale, n = marker.cmax + 0.5;
    if (!Array.isArray(cs) || marker.cmin !== -0.5 || cs.length !== 2 * n || marker.reversescale) return null;
    var pal = [];
    for (var i = 0; i < n; i++) {
      if (cs[2 * i][1] !== cs[2 * i + 1][1]) return null;
      pal.push(cs[2 * i][1]);
    }
    return pal;
  }
  var PALETTE_WIDTH = 255; // regl-scatter2d's colour texture row: a colour id is [id % 255, id / 255]
  function paintPalette(gd, marker) {
    var sub = gd._fullLayout && gd._fullLayout._plots && gd._fullLayout._plots.xy;
    var scene = sub && sub._scene, sc = scene && scene.scatter2d;
    var group = sc && sc.groups && sc.groups[0], opts = scene && scene.markerOptions && scene.markerOptions[0];
    var cur = gd.data[0].marker || {}, pal = paletteOf(marker);
    var selecting = scene && (scene.selectBatch || []).some(function (b) { return b && b.length; });
    if (!pal || !group || !opts || group.tree || !group.colorBuffer || !sc.palette || selecting) return false;
    if (typeof marker.size !== "number" || marker.size !== cur.size) return false;
    var n = group.count, idx = pal.length === 1 ? null : typedValues(marker.color);
    if (pal.length > 1 && (!idx || idx.length !== n)) return false;
    for (var j = 0; j < n && idx; j++) if (idx[j] >= pal.length) return false; // plotly clamps: let it draw
    // register the palette through the scatter's own update (one colour each, not one per point)
    var upd = sc.groups.map(function () { return undefined; });
    upd[0] = { color: pal.length === 1 ? pal[0] : pal.slice() };
    sc.update(upd);
    group = sc.groups[0];
    if (idx) {
      var ids = group.color, border = group.borderColor, buf = new Uint8Array(n * 4 + 2), W = PALETTE_WIDTH;
      var rgba = ids.map(function (id) {
        return [0, 1, 2, 3].map(function (c) { return sc.palette[id * 4 + c] / 255; });
      });
      var perId = new Array(n), perColour = new Array(n);
      for (var i = 0; i < n; i++) {
        var k = idx[i], id = ids[k], b = typeof border === "number" ? border : border[i];
        buf[i * 4] = id % W;
        buf[i * 4 + 1] = Math.floor(id / W);
        buf[i * 4 + 2] = b % W;
        buf[i * 4 + 3] = Math.floor(b / W);
        perId[i] = id;
        perColour[i] = rgba[k];
      }
      group.colorBuffer({ data: buf, type: "uint8", usage: "dynamic" });
      group.color = perId;
      opts.colors = perColour; // plotly's format (rgba in 0..1): a later replot draws the same
    } else {
      opts.colors = pal[0];
    }
    gd.data[0].marker = marker;
    var full = gd._fullData && gd._fullData[0] && gd._fullData[0].marker;
    if (full) {
      // plotly's derived copy too (hover, and anything reading it before the next replot)
      full.color = idx || pal[0];
      if (idx) {
        full.colorscale = marker.colorscale;
        full.cmin = marker.cmin;
        full.cmax = marker.cmax;
      }
    }
    sc.regl.clear({ color: [0, 0, 0, 0], depth: 1 }); // the map's own WebGL canvas (the overlay has its own)
    scene.draw();
    return true;
  }

  function bindMap() {
    var gd = graph("latent-map");
    if (gd && !gd.__llBound && typeof gd.on === "function") {
      gd.__llBound = true;
      gd.on("plotly_click", function (ev) {
        var pt = ev && ev.points && ev.points[0];
        if (pt && pt.curveNumber === 0) LL.select(pt.pointNumber);
      });
      gd.on("plotly_afterplot", function () {
        LL.plots += 1; LL.lastPlot = performance.now(); syncOverlay(); applyHoverLabels(); applyColour();
      });
      applyColour(); // a colour chosen before the graph was bound
      gd.on("plotly_relayout", syncOverlay);
      gd.on("plotly_relayouting", syncSoon);
    }
    var ov = graph("latent-overlay");
    if (ov && !ov.__llBound && typeof ov.on === "function") {
      ov.__llBound = true;
      ov.on("plotly_afterplot", function () { LL.overlayPlots = (LL.overlayPlots || 0) + 1; syncOverlay(); applyHoverLabels(); });
    }
  }
  LL.bindMap = bindMap;

  // The Model page's tau heatmap: a cell click chooses its component ("model-highlight", an input
  // of the sync, which rings the component's samples on the map, and of the Model page's gallery).
  function bindModel() {
    var gd = graph("model-tau");
    if (gd && !gd.__llBound && typeof gd.on === "function") {
      gd.__llBound = true;
      gd.on("plotly_click", function (ev) {
        var pt = ev && ev.points && ev.points[0], dc = window.dash_clientside;
        if (pt && pt.customdata && dc && dc.set_props) dc.set_props("model-highlight", { data: pt.customdata[0] });
      });
    }
  }
  setInterval(bindModel, 500);
  setInterval(bindMap, 250);
})();
