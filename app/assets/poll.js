/* LatentLoop's poll: a plain JSON fetch instead of a Dash callback on a timer.
 *
 * Every Dash round trip costs the browser tens of milliseconds of CPU (each connected component is
 * notified), and on a small machine that comes out of the training thread's share. So the page
 * asks the server's cheap endpoint (LabelPage.live, app/presenter/label_page.py) what changed and fires a Dash callback
 * only when something did:
 *   - "label-poll" (the sync callback) when the server's sync key moved (labels, map version,
 *     workers, feedback, probes, ...);
 *   - "train-interval" (the training panel's drain) when the run's state, phase, saves or messages
 *     changed, and for new curve points at most every data-curve-ms;
 *   - "model-tick" (the Model page's phase line) while a run is alive, only when that page is shown.
 * The step, the progress bar and the speed are written here, without Dash.
 * Settings come from the #ll-live element's data attributes (app/layouts/page.py).
 */
(function () {
  "use strict";
  var LIVE_URL = "/_ll/live"; // app/server.py LIVE_PATH
  var cfg = null;
  var last = null; // {key, events, curves, drainAt}
  var ticks = { "label-poll": 0, "train-interval": 0, "model-tick": 0 };
  var PROPS = { "label-poll": "data", "train-interval": "data", "model-tick": "data" };
  var LLP = (window.LLPoll = { fired: { "label-poll": 0, "train-interval": 0, "model-tick": 0 }, polls: 0 });

  function fire(id) {
    var props = {};
    props[PROPS[id]] = ++ticks[id];
    window.dash_clientside.set_props(id, props);
    LLP.fired[id]++;
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el && el.textContent !== text) el.textContent = text;
  }

  function draw(t) {
    setText("train-step", "step " + t.step);
    setText("train-sps", t.sps);
    var bar = document.getElementById("train-progress");
    if (bar) {
      var w = t.progress + "%";
      if (bar.style.width !== w) bar.style.width = w;
      setText("train-progress", t.label);
      bar.setAttribute("aria-valuenow", String(t.progress));
    }
  }

  function readConfig() {
    var el = document.getElementById("ll-live");
    if (!el) return null;
    var d = el.dataset;
    last = { key: d.key, events: d.events, curves: +d.curves, drainAt: 0 };
    return { labelMs: +d.labelMs || 2000, trainMs: +d.trainMs || 2000, curveMs: +d.curveMs || 5000 };
  }

  function apply(live) {
    var t = live.train, now = Date.now();
    if (live.key !== last.key) {
      last.key = live.key;
      fire("label-poll");
    }
    var due = t.curves !== last.curves && now - last.drainAt >= cfg.curveMs;
    if (t.events !== last.events || due) {
      last.events = t.events;
      last.curves = t.curves;
      last.drainAt = now;
      fire("train-interval");
      if (window.location.pathname === "/model") fire("model-tick");
    } else if (t.busy && window.location.pathname === "/model") {
      fire("model-tick");
    }
    draw(t);
    return t.busy;
  }

  function poll() {
    fetch(LIVE_URL, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (live) {
        LLP.polls++;
        var busy = live ? apply(live) : false;
        setTimeout(poll, busy ? cfg.trainMs : cfg.labelMs);
      })
      .catch(function () {
        setTimeout(poll, cfg.labelMs); // the server is restarting: try again later
      });
  }

  // The first poll once Dash has rendered the page (its stores, "ll-live"), then one at a time.
  window.LL.on("ready", function () {
    cfg = readConfig();
    if (cfg) poll();
  });
})();
