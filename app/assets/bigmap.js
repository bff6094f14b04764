/* The density map of very large datasets (app/services/density.py, app/density_figures.py).
 *
 * Above the raster threshold the big graph holds no trace of every point: a raster image of the
 * view, or (zoomed in) the view's points in trace 1 whose customdata rows start with the serial.
 * The server draws each view (app/callbacks/density.py, fired by relayoutData, the colour mode and
 * new map versions); this file adds what the small map gets from keyboard.js through trace 0:
 *  - a click on a view point selects its serial;
 *  - the tab's client id reaches the server before its first event (the server remembers the
 *    tab's view by it, so a colour switch redraws the window the tab shows);
 *  - the optimistic paint of a label key (keyboard.js finds no point in trace 0 here): the
 *    labelled point is drawn in the overlay's pending trace at the keypress, at its coordinates
 *    from the view points or from the server's selection ring (keyboard.js LL.setServerRing).
 */
(function () {
  "use strict";
  var LL = (window.LL = window.LL || {});
  var POINTS = 1, PENDING = 1; // trace indices (app/density_figures.py, app/figures.py)
  var known = new Map(); // serial -> [x, y] of the server's selection ring
  LL.onServerRing = function (serial, xy) { if (viewMeta()) known.set(serial, xy); };
  var announced = false, lastVersion = null;

  function graph(id) { return document.querySelector("#" + id + " .js-plotly-plot"); }
  function viewMeta() {
    var gd = graph("latent-map");
    var m = gd && gd.layout && gd.layout.meta;
    return m && m.view ? m.view : null;
  }
  LL.bigmapView = viewMeta;

  function xyOf(serial) {
    var gd = graph("latent-map"), fd = gd && gd._fullData && gd._fullData[POINTS];
    if (fd && fd.customdata && fd.x) {
      for (var i = 0; i < fd.customdata.length; i++) {
        if (fd.customdata[i] && fd.customdata[i][0] === serial) return [fd.x[i], fd.y[i]];
      }
    }
    return known.get(serial) || null;
  }

  function paintPending(seq, serial, label) {
    var ov = graph("latent-overlay"), dc = window.dash_clientside, xy = xyOf(serial);
    if (!xy || !ov || !ov.data || ov.data.length <= PENDING || !dc || !dc.Patch || !LL.pending) return;
    if (!LL.outbox.some(function (e) { return e.seq === seq; })) return; // already confirmed
    LL.pending.push({ seq: seq, x: xy[0], y: xy[1], serial: serial, label: label });
    var p = new dc.Patch();
    p.append(["data", PENDING, "x"], xy[0]);
    p.append(["data", PENDING, "y"], xy[1]);
    p.append(["data", PENDING, "marker", "color"], label);
    p.append(["data", PENDING, "customdata"], [serial, label, seq]);
    dc.set_props("latent-overlay", { figure: p.build() });
  }

  function wrapLabel() {
    if (!LL.label || LL.label.__bigmap) return;
    var label = LL.label;
    LL.label = function (value) {
      var serial = LL.selected, seq = label(value);
      if (seq !== null && serial !== null && viewMeta()) {
        setTimeout(function () { paintPending(seq, serial, value); }, 25); // after keyboard.js's own try
      }
      return seq;
    };
    LL.label.__bigmap = true;
  }

  function bind() {
    wrapLabel();
    var gd = graph("latent-map");
    if (!gd || typeof gd.on !== "function") return;
    if (!gd.__llBigBound) {
      gd.__llBigBound = true;
      gd.on("plotly_click", function (ev) {
        var pt = ev && ev.points && ev.points[0];
        if (pt && pt.curveNumber === POINTS && viewMeta() && pt.customdata) LL.select(pt.customdata[0] | 0);
      });
      // relayoutData carries the last event only: the ranges asked for (with the y axis anchored to
      // x, plotly widens one of them to fill the graph), or an autosize that replaces them before
      // Dash sends the request. After every relayout event (once the Graph's own handler has set
      // relayoutData) the ranges shown go to the server (a repeated view costs one more raster).
      gd.on("plotly_relayout", function () {
        setTimeout(function () {
          var dc = window.dash_clientside, fl = gd._fullLayout;
          if (!viewMeta() || !dc || !dc.set_props || !fl || !fl.xaxis || !fl.yaxis) return;
          var r = [fl.xaxis.range[0], fl.xaxis.range[1], fl.yaxis.range[0], fl.yaxis.range[1]];
          dc.set_props("latent-map", { relayoutData: { "xaxis.range[0]": r[0], "xaxis.range[1]": r[1],
                                                       "yaxis.range[0]": r[2], "yaxis.range[1]": r[3] } });
        }, 0);
      });
      gd.on("plotly_afterplot", function () {
        var v = viewMeta(), version = gd.layout.meta && gd.layout.meta.version;
        if (!v) return;
        if (version !== lastVersion) { known.clear(); lastVersion = version; } // points moved
        LL.bigmapPlots = (LL.bigmapPlots || 0) + 1;
      });
    }
    if (!announced && LL.ready && viewMeta() && LL.flush && LL.outbox && !LL.outbox.length) {
      announced = true;
      LL.flush(); // an empty outbox: the server learns the client id that keys this tab's view
    }
  }
  setInterval(bind, 250);
})();
