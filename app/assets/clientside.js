/* Clientside callbacks (registered in app/callbacks/clientside.py and, the "llpoll" namespace, in
 * app/callbacks/model.py): what the page does without a server round trip. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  ll: {
    /* Colour mode switch, entirely in the browser: the per-version marker settings of every mode
     * (typed arrays) are already in the "colour-store". colour.js (LL.applyColour) sets the big
     * trace's marker in place and replots once (no Plotly.react of the figure, no relayout). A new
     * map version comes from the server already in the tab's mode (app/callbacks/sync.py), so its
     * colour store then redraws nothing. */
    colour: function (mode, store, quality, probe) {
      var dc = window.dash_clientside;
      if (!store || !store.modes) return dc.no_update;
      if (window.LL) window.LL.colourStore = store; // colour.js paints a click with it at once
      var fired = ((dc.callback_context && dc.callback_context.triggered) || []).map(function (t) { return t.prop_id; });
      if (mode !== "quality" && fired.length === 1 && fired[0] === "quality-store.data") return dc.no_update;
      if (mode !== "probe" && fired.length === 1 && fired[0] === "probe-store.data") return dc.no_update;
      var m = store.modes[mode] || store.modes.label;
      var marker = Object.assign({}, m); // size and colour settings of the mode (app/figures.py)
      if (mode === "quality") {
        // Label quality: scores of the labelled points come from the server (they change with the
        // labels, not only with the map), asked for once per switch to this mode and then kept
        // current by the sync while the mode is on. Labelled points get a large halo in their
        // score's colour around the overlay's label dot; the rest stay grey.
        if (fired.indexOf("colour-mode.value") >= 0) dc.set_props("quality-want", { data: Date.now() });
        if (quality && quality.version === store.version) {
          var n = store.n, col = new Array(n).fill(m.cmin), size = new Array(n).fill(m.size);
          for (var i = 0; i < quality.serials.length; i++) {
            var s = quality.serials[i];
            if (s < n) { col[s] = quality.quality[i]; size[s] = m.halo; }
          }
          marker.color = col;
          marker.size = size;
        }
        delete marker.halo;
      }
      if (mode === "probe") {
        // A probe's target or prediction (app/services/probes.py): asked for once per switch to
        // this mode, then kept current by the sync (new map, new probe run, another menu choice).
        if (fired.indexOf("colour-mode.value") >= 0) dc.set_props("probe-want", { data: Date.now() });
        if (probe && probe.version === store.version && probe.marker) marker = Object.assign({ size: m.size }, probe.marker);
      }
      if (window.LL) {
        window.LL.wantColour = { version: store.version, marker: marker };
        window.LL.applyColour();
      }
      return dc.no_update;
    },
    /* Which page the URL shows: every page stays in the document (app/layouts/page.py PAGES), so
     * the map, the selection and the training survive a switch; plotly graphs that were hidden
     * get a resize so they fill their cards. input.js handles the labelling keys on "label" only. */
    page: function (path) {
      var name = path === "/model" ? "model" : path === "/runs" ? "runs" : "label";
      if (window.LL) {
        window.LL.page = name;
        if (window.LL.publishSelection) window.LL.publishSelection(); // the Model page's microscope
      }
      var links = document.querySelectorAll(".ll-nav-link");
      for (var i = 0; i < links.length; i++) links[i].classList.toggle("active", links[i].id === "nav-" + name);
      setTimeout(function () { window.dispatchEvent(new Event("resize")); }, 0);
      return ["label", "model", "runs"].map(function (p) { return p === name ? {} : { display: "none" }; });
    },
    ack: function (seq, view) {
      var LL = window.LL;
      if (LL) {
        LL.ack(seq);
        if (!LL.ready) {
          LL.ready = true;
          if (LL.outbox.length) LL.flush(); // anything typed before the page was ready
          LL.emit("ready");
        }
        // the server's ring, once it knows every event of this tab (else it is an older selection's)
        if (view && "ring" in view && !LL.outbox.length) LL.setServerRing(view.ring);
        LL.more = !!(view && view.more); // a label's lean answer: the panels come next
        if (LL.more) LL.followUp();
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
    xaiTarget: function (value) {
      if (window.LL && window.LL.setXaiTarget) window.LL.setXaiTarget(value); // xai.js asks again
      return window.dash_clientside.no_update;
    },
    samples: function (items) {
      if (window.LL && window.LL.setSamples) window.LL.setSamples(items);
      return window.dash_clientside.no_update;
    },
  },
  llpoll: {
    /* The value, only while the Model page is shown (a hidden page must not cost a round trip). */
    shown: function (value, path) {
      return path === "/model" ? value : window.dash_clientside.no_update;
    },
  },
});
