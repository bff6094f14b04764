/* The selection ring: a plain element over the map (#map-ring, app/assets/style.css), placed from
 * the big graph's axes. Moving it costs no plotly work at all (a trace or a shape in a figure makes
 * plotly recalculate and redraw the overlay's WebGL canvas, ~tens of ms of CPU per selection in
 * software rendering). Its point: the map's own coordinates of the selection, or, on the density
 * map of a very large dataset (no per-point arrays), the server's (LL.setServerRing, from the
 * sync's answer: clientside.js "ack").
 */
(function () {
  "use strict";
  var LL = window.LL;
  LL.rings = 0; // ring placements that moved it (tests read it)
  LL.serverRing = null;

  function ringAt(serial) {
    var gd = LL.graph("latent-map"), meta = gd && gd.layout && gd.layout.meta;
    var fd = gd && gd._fullData && gd._fullData[LL.trace("base")];
    if (serial === null) return null;
    return fd && fd.x && meta && fd._length === meta.n && serial < fd._length ? [fd.x[serial], fd.y[serial]] : undefined;
  }

  var ringPlace = "";
  function placeRing() {
    var el = document.getElementById("map-ring"), gd = LL.graph("latent-map"), fl = gd && gd._fullLayout;
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
    if (xy && LL.selected !== null) LL.emit("server-ring", { serial: LL.selected, xy: xy });
    placeRing();
  };

  LL.on("select", placeRing); // at the click (the density map's waits for the server)

  // The map moved (a plot, a zoom or pan, a drag in progress) or the overlay was drawn.
  var placePending = false;
  function placeSoon() {
    if (placePending) return;
    placePending = true;
    requestAnimationFrame(function () { placePending = false; placeRing(); });
  }
  LL.on("graph-ready", function (g) {
    if (g.id === "latent-map") {
      g.gd.on("plotly_afterplot", placeRing);
      g.gd.on("plotly_relayout", placeRing);
      g.gd.on("plotly_relayouting", placeSoon);
    } else if (g.id === "latent-overlay") {
      g.gd.on("plotly_afterplot", placeRing);
    }
  });
})();
