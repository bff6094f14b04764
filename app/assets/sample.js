/* The sample panel at the key press: n, p or a click on a queued sample shows the sample in the same
 * animation frame as the ring moves, with no request.
 *
 * The sync's queue panel carries each queued sample's panel data ("queue-samples",
 * app/presenter/views.py queue_samples: image, label, prediction, certainty, reason); this script
 * draws it into #sample-fast, shown instead of the server's #sample-panel until the server's panel
 * of the same sample arrives (it adds the reconstruction; Dash owns #sample-panel, so this script
 * never writes into it). A map point outside the queue is fetched from /_ll/sample (app/server.py)
 * and the panel says "loading" until it arrives.
 *
 * LL.shownSample() is the sample whose image is on screen (null: none, or loading): input.js holds
 * a label key until it is the selected one. Emits "shown" {serial} whenever it changes.
 */
(function () {
  "use strict";
  var LL = window.LL;
  LL.samples = {}; // serial -> panel data (queued samples and fetched points)
  LL.sampleFetches = 0; // requests to /_ll/sample (tests read it)
  LL.fastSwaps = 0; // panels drawn from the page's own data (tests read it)
  var fastSerial = null; // what #sample-fast shows (null: hidden or loading)
  var lastShown = null;

  LL.setSamples = function (items) {
    if (!Array.isArray(items)) return;
    if (Object.keys(LL.samples).length > 500) LL.samples = {}; // fetched points pile up otherwise
    for (var i = 0; i < items.length; i++) if (items[i] && typeof items[i].serial === "number") LL.samples[items[i].serial] = items[i];
  };

  function el(id) { return document.getElementById(id); }
  function serverSerial() {
    var d = document.querySelector("#sample-panel [data-serial]");
    return d ? +d.getAttribute("data-serial") : null;
  }
  function fastShown() { var f = el("sample-fast"); return !!f && f.style.display !== "none"; }

  LL.shownSample = function () { return fastShown() ? fastSerial : serverSerial(); };

  function shownChanged() {
    var s = LL.shownSample();
    if (s === lastShown) return;
    lastShown = s;
    LL.emit("shown", { serial: s });
  }

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // A class by name as the server's panel shows it (app/layouts/sample.py class_text): shortened,
  // the full name in the title; escaped, as every name that goes into markup here.
  function cls(c) {
    var name = LL.className(c | 0);
    return "<span title='" + esc(name) + "'>" + esc(LL.shortName(name)) + "</span>";
  }

  // The label buttons (app/layouts/sample.py label_buttons, the same rules).
  function buttons(label) {
    var k = LL.classes(), n = k.names.length, shown = n <= k.few ? n : k.keys, out = "";
    for (var c = 0; c < shown; c++) {
      var name = k.names[c];
      out += "<button class='btn btn-sm ll-label-btn" + (label === c ? " active" : "") + "' data-label='" + c +
        "' title='" + esc("label as " + name + (c < k.keys ? " (key " + c + ")" : "")) + "'>" + esc(LL.shortName(name)) + "</button>";
    }
    if (n > k.few) {
      out += "<button class='btn btn-sm btn-outline-primary ll-picker-btn' title='find a class by typing its name (key l)'>all " +
        n + " classes\u2026</button>";
    }
    return "<div class='ll-label-buttons mt-2'>" + out + "</div>";
  }

  function html(b) {
    var unset = b.label === null || b.label === undefined;
    var top = (b.top || []).map(function (t) {
      return "<tr><td class='pe-2'>" + cls(t[0]) + "</td><td>" + (+t[1]).toFixed(2) + "</td></tr>";
    }).join("");
    var out = "<div class='ll-sample-row' data-fast-serial='" + (b.serial | 0) + "'>" +
      "<figure class='ll-fig'><img class='ll-digit' alt='sample " + (b.serial | 0) + "' src='" + esc(b.image) + "'><figcaption>image</figcaption></figure>" +
      "<div class='ll-sample-info'><div><span class='fw-bold me-2 ll-fast-serial'>#" + (b.serial | 0) + "</span>" +
      "<span class='badge bg-" + (b.split === "train" ? "secondary" : "warning") + " me-1'>" + esc(b.split) + "</span></div>" +
      "<div class='small'>label <strong class='ll-fast-label" + (unset ? "" : " ll-label-set") + "'>" + (unset ? "none" : cls(b.label)) + "</strong></div>" +
      "<div class='small'>predicted <strong>" + cls(b.predicted) + "</strong> (" + (+b.certainty).toFixed(2) + ")</div>" +
      (b.reason ? "<div class='small text-muted ll-fast-reason'>" + esc(b.reason) + "</div>" : "") +
      "<table class='ll-top3 small mt-1'><tbody>" + top + "</tbody></table></div></div>";
    if (b.split === "train") {
      out += buttons(b.label);
    } else {
      out += "<p class='text-muted small mt-2 mb-0'>Held-out test image: used for test accuracy, never labelled.</p>";
    }
    return out;
  }

  function showFast(inner, serial) {
    var f = el("sample-fast"), p = el("sample-panel");
    if (!f || !p) return;
    f.innerHTML = inner;
    f.style.display = "";
    p.style.display = "none";
    fastSerial = serial;
    shownChanged();
  }

  function hideFast() {
    var f = el("sample-fast"), p = el("sample-panel");
    if (f) f.style.display = "none";
    if (p) p.style.display = "";
    fastSerial = null;
    shownChanged();
  }

  function draw(b) {
    LL.fastSwaps += 1;
    showFast(html(b), b.serial);
  }

  function fetchSample(serial) {
    LL.sampleFetches += 1;
    fetch("/_ll/sample?serial=" + serial, { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (b) {
        if (!b || b.serial !== serial) return;
        LL.samples[serial] = b;
        if (LL.selected === serial && serverSerial() !== serial) draw(b);
      })
      .catch(function () {}); // the server's panel follows with the sync anyway
  }

  LL.on("select", function (e) {
    watch();
    var s = e.serial;
    if (s === null || serverSerial() === s) { hideFast(); return; }
    var b = LL.samples[s];
    if (b) { draw(b); return; }
    showFast("<div class='ll-sample-empty text-muted ll-loading'>loading sample #" + (s | 0) + " …</div>", null);
    fetchSample(s);
  });

  // The label is on screen at once (the server's panel follows); a later p shows it too.
  LL.on("label", function (e) {
    var b = LL.samples[e.serial];
    if (!b || b.split !== "train") return;
    b.label = e.label;
    if (fastShown() && fastSerial === e.serial) showFast(html(b), b.serial);
  });

  // The server's panel: once it shows the selection, it replaces ours (it has the reconstruction).
  var watching = false;
  function watch() {
    var p = el("sample-panel");
    if (watching || !p) return;
    watching = true;
    new MutationObserver(function () {
      if (LL.selected !== null && serverSerial() === LL.selected) hideFast();
      else shownChanged();
    }).observe(p, { childList: true, subtree: true });
  }
  LL.on("ready", watch);
})();
