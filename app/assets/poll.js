/* LatentLoop's poll: a plain JSON fetch instead of a Dash callback on a timer.
 *
 * Every Dash round trip costs the browser tens of milliseconds of CPU (each connected component is
 * notified), and on a small machine that comes out of the training thread's share. So the page
 * asks the server's cheap endpoint (LabelPage.live, app/presenter/label_page.py) what changed and fires a Dash callback
 * only when something did:
 *   - "label-poll" (the sync callback) when the server's sync key moved (labels, map version,
 *     workers, feedback, probes, ...);
 *   - "train-interval" (the training panel's drain) when the run's state, phase, saves or messages
 *     changed;
 *   - "model-tick" (the Model page's phase line) while a run is alive, only when that page is shown.
 * The step, the progress bar and the speed are written here, without Dash; so are the loss and
 * accuracy curves' new points, at most every data-curve-ms and on the poll after the run's state
 * changed: the poll sends the curves' cursor (how many points the graphs hold: the graphs are their
 * own cursor, so whatever redrew them, the next answer brings what they lack) and extends their
 * lines with Plotly.extendTraces.
 * Settings come from the #ll-live element's data attributes (app/layouts/page.py).
 */
(function () {
  "use strict";
  var LIVE_URL = "/_ll/live"; // app/server.py LIVE_PATH
  var cfg = null;
  var last = null; // {key, events, curves (the server's count, -1: not known yet), curveAt}
  var ticks = { "label-poll": 0, "train-interval": 0, "model-tick": 0 };
  var PROPS = { "label-poll": "data", "train-interval": "data", "model-tick": "data" };
  var LLP = (window.LLPoll = {
    fired: { "label-poll": 0, "train-interval": 0, "model-tick": 0 },
    polls: 0,
    extended: 0, // curve answers drawn (tests)
  });

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
    last = { key: d.key, events: d.events, curves: -1, curveAt: 0 };
    return { labelMs: +d.labelMs || 2000, trainMs: +d.trainMs || 2000, curveMs: +d.curveMs || 5000 };
  }

  function apply(live) {
    var t = live.train;
    if (live.key !== last.key) {
      last.key = live.key;
      fire("label-poll");
    }
    last.curves = t.curves;
    if (t.events !== last.events) {
      last.events = t.events;
      last.curveAt = 0; // the next poll brings the curves' points too: a run's end shows its last ones
      fire("train-interval");
      if (window.location.pathname === "/model") fire("model-tick");
    } else if (t.busy && window.location.pathname === "/model") {
      fire("model-tick");
    }
    draw(t);
    return t.busy;
  }

  // How many points the curves hold: [metrics rows (the loss lines), evaluations (the first
  // accuracy line)], as LabelPage.curve_update counts them; null while a graph is not drawn.
  function curveCursor() {
    var loss = window.LL.graph("loss-curve"), acc = window.LL.graph("acc-curve");
    if (!loss || !acc || !loss.data || !acc.data || !loss.data[0] || !acc.data[0]) return null;
    return [loss.data[0].x.length, acc.data[0].x.length];
  }

  // The cursor to send with this poll: only when the server had more points than the graphs hold
  // (or its count is not known yet) and the last extension is data-curve-ms old.
  function curvesDue() {
    var c = curveCursor(), now = Date.now();
    if (!c || now - last.curveAt < cfg.curveMs || last.curves === c[0] + c[1]) return null;
    last.curveAt = now;
    return c;
  }

  function grow(gd, pts) {
    var idx = [], xs = [], ys = [];
    for (var i = 0; i < pts.x.length && i < gd.data.length; i++) {
      if (!pts.x[i].length) continue;
      idx.push(i);
      xs.push(pts.x[i]);
      ys.push(pts.y[i]);
    }
    if (idx.length) window.Plotly.extendTraces(gd, { x: xs, y: ys }, idx);
  }

  function extendCurves(asked, cv) {
    var now = curveCursor();
    // the graphs changed while the answer travelled: the next poll asks from where they are
    if (!now || now[0] !== asked[0] || now[1] !== asked[1]) return;
    var loss = window.LL.graph("loss-curve"), acc = window.LL.graph("acc-curve");
    if (cv.reset) {
      // this tab holds more points than the server (it restarted): its points are counted from zero
      [loss, acc].forEach(function (gd) {
        var none = function () { return gd.data.map(function () { return []; }); };
        window.Plotly.restyle(gd, { x: none(), y: none() });
      });
    }
    grow(loss, cv.loss);
    grow(acc, cv.acc);
    LLP.extended++;
  }

  function poll() {
    var asked = curvesDue();
    var url = asked ? LIVE_URL + "?m=" + asked[0] + "&e=" + asked[1] : LIVE_URL;
    fetch(url, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (live) {
        LLP.polls++;
        if (live && asked && live.curves) extendCurves(asked, live.curves);
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
