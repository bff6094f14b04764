/* LatentLoop keyboard and pointer input, and the event outbox.
 *
 * Every user action that changes labels or the selection becomes an event {seq, kind, ...} with a
 * per-tab sequence number. Events wait in an outbox that is written, whole, into the dcc.Store
 * "ll-events" (dash_clientside.set_props) until the server acknowledges them through "ll-ack".
 * Re-sending is what makes fast typing safe: Dash may merge quick store updates into one request
 * or drop an older request's answer, but the server applies each (tab, seq) exactly once and in
 * order, so every press counts once whatever Dash does with the requests.
 *
 * The selection lives here, not on the server, so "click, then press 3" labels the clicked point
 * at once; a selection alone sends nothing to Dash (see LL.select). What follows an action on the page (the ring, the
 * optimistic paint of a label) subscribes to its event: "select", "label", "ack" (00-ll.js).
 */
(function () {
  "use strict";
  var LL = window.LL;
  LL.client = Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
  LL.seq = 0;
  LL.outbox = [];
  LL.selected = null;
  LL.queue = [];
  LL.ready = false; // set once Dash has rendered the stores (first clientside callback)
  LL.keyTimes = {}; // seq -> performance.now() at the key press (benchmarks read this)
  var MAX_OUTBOX = 1000;

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
    LL.emit("ack", { seq: seq });
  };

  LL.notice = function (text) {
    var dc = window.dash_clientside;
    if (dc && dc.set_props) dc.set_props("notice", { children: text });
  };

  // The selected queue item into view inside the queue's own scroll box, only when it is outside:
  // scrollIntoView would scroll the page too (the queue card is often below the fold), and a page
  // scroll makes Chromium composite the whole page again, the map's WebGL canvas with it.
  function showInBox(item) {
    var box = item.closest(".ll-queue-box");
    if (!box) return;
    var b = box.getBoundingClientRect(), r = item.getBoundingClientRect();
    if (r.top < b.top) box.scrollTop -= b.top - r.top;
    else if (r.bottom > b.bottom) box.scrollTop += Math.min(r.bottom - b.bottom, r.top - b.top);
  }

  function markQueue() {
    var items = document.querySelectorAll(".ll-queue-item");
    for (var i = 0; i < items.length; i++) {
      var on = +items[i].getAttribute("data-serial") === LL.selected;
      items[i].classList.toggle("selected", on);
      if (on) showInBox(items[i]);
    }
  }
  LL.markQueue = markQueue;

  // A selection costs no Dash callback: the ring (ring.js), the sample (sample.js) and its
  // saliency (xai.js) follow it in the page and through plain fetches, and the server hears of it
  // by a plain request (postSelection). Only the newest selection waits in the outbox; the Model
  // page and the feedback editor get it only while they are shown or open.
  LL.select = function (serial) {
    LL.selected = serial === null || serial === undefined ? null : serial | 0;
    markQueue();
    LL.emit("select", { serial: LL.selected }); // the ring moves at the click (ring.js)
    LL.outbox = LL.outbox.filter(function (e) { return e.kind !== "select" && e.kind !== "clear"; });
    var ev = LL.selected === null ? { kind: "clear" } : { kind: "select", serial: LL.selected };
    ev.seq = ++LL.seq;
    LL.outbox.push(ev);
    postSelection();
    publishSelection();
    return ev.seq;
  };

  // The outbox holds nothing but the selection: hand it to the server by a plain request
  // (app/server.py /_ll/events, the same exactly-once, in-order rule). With other events waiting,
  // it goes with them: their Dash answer is on its way, and a lone selection left after it is
  // posted then ("ack").
  LL.selectionPosts = 0; // tests read it
  function postSelection() {
    var box = LL.outbox;
    if (!box.length || box.some(function (e) { return e.kind !== "select" && e.kind !== "clear"; })) return;
    LL.selectionPosts += 1;
    fetch("/_ll/events", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ client: LL.client, events: box.slice() }),
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (a) {
        if (!a) return;
        fromPost = true; // a selection the server did not take is not posted again and again
        try { LL.ack(a.ack); } finally { fromPost = false; }
        if (a.notices && a.notices.length) LL.notice(a.notices.join(" \u00b7 "));
      })
      .catch(function () {}); // sent again with the next events
  }
  var fromPost = false;
  LL.on("ack", function () { if (LL.outbox.length && !fromPost) postSelection(); });

  // The selection for the Dash parts that need it: the feedback editor while it is open
  // ("fb-want", app/callbacks/explain.py) and the Model page while it is shown ("model-want").
  var published = { "fb-want": undefined, "model-want": undefined };
  function publish(id, on) {
    var dc = window.dash_clientside, s = LL.selected;
    if (!on || !LL.ready || !dc || !dc.set_props || published[id] === s) return;
    published[id] = s;
    dc.set_props(id, { data: s === null ? null : { serial: s, train: s < LL.classes().nTrain } });
  }
  function publishSelection() {
    var fb = document.getElementById("fb-open");
    publish("fb-want", !!(fb && fb.open));
    publish("model-want", LL.page === "model");
  }
  LL.publishSelection = publishSelection;
  // "toggle" does not bubble: listen in the capture phase. The editor's graph was laid out while
  // it was hidden (plotly's default 700x450, which its drag would map the pointer with): size it.
  document.addEventListener("toggle", function (e) {
    if (!e.target || e.target.id !== "fb-open") return;
    publishSelection();
    var gd = LL.graph("fb-graph");
    if (e.target.open && gd && window.Plotly) window.Plotly.Plots.resize(gd);
  }, true);

  LL.label = function (label) {
    if (LL.selected === null) {
      LL.notice("select a sample first (click a point or press n)");
      return null;
    }
    // No label on an unseen image: while the panel does not show the selection (its image is
    // loading), the key waits and is applied once it does (sample.js emits "shown").
    var shown = LL.shownSample ? LL.shownSample() : LL.selected;
    if (shown !== LL.selected) {
      LL.held.push({ serial: LL.selected, label: label, t: performance.now() });
      return null;
    }
    return apply(LL.selected, label);
  };

  function apply(serial, label) {
    var seq = LL.send({ kind: "label", serial: serial, label: label });
    LL.emit("label", { seq: seq, serial: serial, label: label }); // painted at once (overlay.js, bigmap.js)
    pace();
    if (autoAdvance() && LL.queue && LL.queue.length) LL.step(1);
    return seq;
  }

  // Auto-advance (issue 27): the queue card's switch, remembered per dataset by /_ll/prefs.
  function autoAdvance() {
    var el = document.getElementById("auto-advance");
    return !!(el && el.checked);
  }
  document.addEventListener("change", function (e) {
    if (!e.target || e.target.id !== "auto-advance") return;
    fetch("/_ll/prefs", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ auto_advance: !!e.target.checked }),
    }).catch(function () {});
  });

  // The labelling pace: labels per minute over this tab's last 10 (the stats card's #stat-pace).
  LL.labelTimes = [];
  function pace() {
    var t = LL.labelTimes;
    t.push(performance.now());
    if (t.length > 10) t.shift();
    var el = document.getElementById("stat-pace");
    if (!el || t.length < 2) return;
    var perMin = ((t.length - 1) * 60000) / Math.max(t[t.length - 1] - t[0], 1);
    el.textContent = "pace " + Math.round(perMin) + " labels/min (last " + t.length + ")";
  }

  LL.held = []; // label keys pressed while the selection's image was not on screen yet
  LL.on("shown", function (e) {
    var now = LL.held.filter(function (h) { return h.serial === e.serial && h.serial === LL.selected; });
    if (!now.length) return;
    LL.held = LL.held.filter(function (h) { return now.indexOf(h) < 0; });
    for (var i = 0; i < now.length; i++) {
      var seq = apply(now[i].serial, now[i].label);
      LL.keyTimes[seq] = now[i].t;
    }
  });
  // Another selection before the image came: the held keys were meant for an image never seen.
  LL.on("select", function (e) {
    LL.held = LL.held.filter(function (h) { return h.serial === e.serial; });
  });

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

  LL.page = "label"; // set by the page switch (clientside.js): the labelling keys act on the Label page only
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
    } else if (k === "l") {
      // the type-ahead class picker (picker.js): any class by name; its box takes the keys then
      if (!e.repeat && LL.openPicker) { e.preventDefault(); LL.openPicker(); }
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
    if (t.closest(".ll-picker-btn") && LL.openPicker) { LL.openPicker(); return; }
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

  // Clicks on graphs: a point of the small map's big trace selects it (the density map's view
  // points: bigmap.js); a cell of the Model page's tau heatmap chooses its component
  // ("model-highlight", an input of the sync, which rings the component's samples on the map, and
  // of the Model page's gallery).
  LL.on("graph-ready", function (g) {
    if (g.id === "latent-map") {
      g.gd.on("plotly_click", function (ev) {
        var pt = ev && ev.points && ev.points[0];
        if (pt && pt.curveNumber === LL.trace("base")) LL.select(pt.pointNumber);
      });
    } else if (g.id === "model-tau") {
      g.gd.on("plotly_click", function (ev) {
        var pt = ev && ev.points && ev.points[0], dc = window.dash_clientside;
        if (pt && pt.customdata && dc && dc.set_props) dc.set_props("model-highlight", { data: pt.customdata[0] });
      });
    }
  });
})();
