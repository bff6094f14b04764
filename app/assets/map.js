/* Clientside callbacks (registered in app/callbacks/clientside.py). */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  ll: {
    /* Colour mode switch, entirely in the browser: the per-version marker settings of every mode
     * (typed arrays) are already in the "colour-store"; patch them into the big trace. */
    colour: function (mode, store) {
      var dc = window.dash_clientside;
      if (!store || !store.modes) return dc.no_update;
      var m = store.modes[mode] || store.modes.label;
      var marker = Object.assign({}, m); // size and colour settings of the mode (app/figures.py)
      var p = new dc.Patch();
      p.assign(["data", 0, "marker"], marker);
      if (window.LL) window.LL.colourT0 = performance.now();
      return p.build();
    },
    ack: function (seq) {
      var LL = window.LL;
      if (LL) {
        LL.ack(seq);
        if (!LL.ready) {
          LL.ready = true;
          if (LL.outbox.length) LL.flush(); // anything typed before the page was ready
        }
      }
      return window.dash_clientside.no_update;
    },
    queue: function (serials) {
      var LL = window.LL;
      if (LL) {
        LL.queue = Array.isArray(serials) ? serials : [];
        setTimeout(LL.markQueue, 0); // after the list has been re-rendered
      }
      return window.dash_clientside.no_update;
    },
  },
});
