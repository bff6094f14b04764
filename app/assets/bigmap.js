/* The density map of very large datasets (app/services/density.py, app/density_figures.py).
 *
 * Above the raster threshold the big graph holds no trace of every point: a raster image of the
 * view, or (zoomed in) the view's points in trace 1 whose customdata rows start with the serial.
 * The server draws each view (app/callbacks/density.py, fired by relayoutData, the colour mode and
 * new map versions); this file adds what the small map gets through its big trace (input.js,
 * overlay.js):
 *  - a click on a view point selects its serial;
 *  - the tab's client id reaches the server before its first event (the server remembers the
 *    tab's view by it, so a colour switch redraws the window the tab shows);
 *  - the optimistic paint of a label key (overlay.js finds no point in the big trace here): the
 *    labelled point is drawn in the overlay's pending trace at the keypress, at its coordinates
 *    from the view points or from the server's selection ring (ring.js LL.setServerRing).
 */
(function () {
  "use strict";
  var LL = window.LL;
  var known = new Map(); // serial -> [x, y] of the server's selection ring
  var announced = false, lastVersion = null;

  function viewMeta() {
    var gd = LL.graph("latent-map");
    var m = gd && gd.layout && gd.layout.meta;
    return m && m.view ? m.view : null;
  }
  LL.bigmapView = viewMeta;

  function xyOf(serial) {
    var gd = LL.graph("latent-map"), fd = gd && gd._fullData && gd._fullData[LL.trace("points")];
    if (fd && fd.customdata && fd.x) {
      for (var i = 0; i < fd.customdata.length; i++) {
        if (fd.customdata[i] && fd.customdata[i][0] === serial) return [fd.x[i], fd.y[i]];
      }
    }
    return known.get(serial) || null;
  }

  function paintPending(seq, serial, label) {
    var ov = LL.graph("latent-overlay"), dc = window.dash_clientside, xy = xyOf(serial), P = LL.trace("pending");
    if (!xy || !ov || !ov.data || ov.data.length <= P || !dc || !dc.Patch || !LL.pending) return;
    if (!LL.outbox.some(function (e) { return e.seq === seq; })) return; // already confirmed
    LL.pending.push({ seq: seq, x: xy[0], y: xy[1], serial: serial, label: label });
    var p = new dc.Patch();
    p.append(["data", P, "x"], xy[0]);
    p.append(["data", P, "y"], xy[1]);
    p.append(["data", P, "marker", "color"], label);
    p.append(["data", P, "customdata"], [serial, label, seq]);
    dc.set_props("latent-overlay", { figure: p.build() });
  }

  LL.on("label", function (ev) {
    if (viewMeta()) setTimeout(function () { paintPending(ev.seq, ev.serial, ev.label); }, 25);
  });
  LL.on("server-ring", function (ev) { if (viewMeta()) known.set(ev.serial, ev.xy); });

  // The server learns the tab's client id (which keys its view) from an empty outbox, once the
  // page is ready, shows a density map and has no event waiting.
  function announce() {
    if (!announced && LL.ready && viewMeta() && !LL.outbox.length) {
      announced = true;
      LL.flush();
    }
  }
  LL.on("ready", announce);
  LL.on("ack", announce);

  LL.on("graph-ready", function (g) {
    if (g.id !== "latent-map") return;
    var gd = g.gd;
    gd.on("plotly_click", function (ev) {
      var pt = ev && ev.points && ev.points[0];
      if (pt && pt.curveNumber === LL.trace("points") && viewMeta() && pt.customdata) LL.select(pt.customdata[0] | 0);
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
      announce();
    });
  });
})();
