/* Colour painting of the big map: the colour mode's marker, set in place on the big trace.
 *
 * The modes' markers come per map version in the "colour-store" (app/figures.py: a palette and a
 * per-point index); the "colour" clientside callback (clientside.js) puts the wanted one in
 * LL.wantColour and calls LL.applyColour. Modes drawn from a few colours are painted straight into
 * the scatter's WebGL colour buffer (paintPalette; docs/architecture.md section 8 says why that
 * reaches into plotly's internals), anything else with one Plotly.redraw.
 */
(function () {
  "use strict";
  var LL = window.LL;

  // The colour mode's marker (clientside.js "colour"), set on the big trace once the graph shows the map version
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
    var want = LL.wantColour, gd = LL.graph("latent-map"), B = LL.trace("base");
    if (!want || !gd || !gd.data || !gd.data[B] || !window.Plotly) return;
    var meta = gd.layout && gd.layout.meta;
    if (!meta || meta.version !== want.version) return;
    LL.wantColour = null;
    if (sameMarker(gd.data[B].marker, want.marker)) return;
    LL.recolours += 1;
    if (paintPalette(gd, want.marker)) {
      LL.paletteSwitches += 1;
      return;
    }
    gd.data[B].marker = want.marker;
    window.Plotly.redraw(gd);
  }
  LL.applyColour = applyColour;

  // A click on a colour mode is painted at once from the colour store the "colour" callback last saw (clientside.js),
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
    // B is also the scene's index of the trace: every trace of the small map is a scattergl
    var B = LL.trace("base");
    var sub = gd._fullLayout && gd._fullLayout._plots && gd._fullLayout._plots.xy;
    var scene = sub && sub._scene, sc = scene && scene.scatter2d;
    var group = sc && sc.groups && sc.groups[B], opts = scene && scene.markerOptions && scene.markerOptions[B];
    var cur = gd.data[B].marker || {}, pal = paletteOf(marker);
    var selecting = scene && (scene.selectBatch || []).some(function (b) { return b && b.length; });
    if (!pal || !group || !opts || group.tree || !group.colorBuffer || !sc.palette || selecting) return false;
    if (typeof marker.size !== "number" || marker.size !== cur.size) return false;
    var n = group.count, idx = pal.length === 1 ? null : typedValues(marker.color);
    if (pal.length > 1 && (!idx || idx.length !== n)) return false;
    for (var j = 0; j < n && idx; j++) if (idx[j] >= pal.length) return false; // plotly clamps: let it draw
    // register the palette through the scatter's own update (one colour each, not one per point)
    var upd = sc.groups.map(function () { return undefined; });
    upd[B] = { color: pal.length === 1 ? pal[0] : pal.slice() };
    sc.update(upd);
    group = sc.groups[B];
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
    gd.data[B].marker = marker;
    var full = gd._fullData && gd._fullData[B] && gd._fullData[B].marker;
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

  LL.on("graph-ready", function (g) {
    if (g.id !== "latent-map") return;
    g.gd.on("plotly_afterplot", applyColour);
    applyColour(); // a colour chosen before the graph was there
  });
})();
