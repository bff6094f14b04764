/* The sample panel of a selection, drawn by the page: no Dash callback for a selection.
 *
 * n, p or a click on a queued sample shows the sample in the same animation frame as the ring
 * moves, with no request: the sync's queue panel carries each queued sample's panel data
 * ("queue-samples", app/presenter/views.py queue_samples: image, label, prediction, certainty,
 * reason). Every selection then fetches the whole panel from /_ll/sample (app/server.py,
 * views.sample_full: the reconstruction, the true class, the given and suggested label with the
 * accept button); a map point outside the queue says "loading" until it arrives.
 *
 * All of it is drawn into #sample-fast, shown instead of the server's #sample-panel, which Dash
 * owns (this script never writes into it) and which the sync redraws after a label, an acceptance
 * or an undo; once that panel shows the selection, it replaces ours. #sample-fast carries the same
 * element ids as the server's panel (#sample-serial, #sample-label, ...) and is emptied when it is
 * hidden, so the shown panel's element is always the first with its id.
 *
 * LL.shownSample() is the sample whose image is on screen (null: none, or loading): input.js holds
 * a label key until it is the selected one. Emits "shown" {serial} whenever it changes.
 */
(function () {
  "use strict";
  var LL = window.LL;
  LL.samples = {}; // serial -> panel data (queued samples and fetched points)
  LL.sampleFetches = 0; // requests to /_ll/sample (tests read it)
  LL.samplesLoading = 0; // of them, for a sample the page did not hold: "loading" until it came
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

  var esc = LL.esc;

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

  // A labelled sample's given label next to the suggested one, its quality and the accept button
  // (app/layouts/sample.py issue_line).
  function issueLine(i) {
    var agree = i.suggested === i.given;
    return "<div class='small' title='" + esc(i.reason || "") + "'>given <strong id='sample-given'>" + cls(i.given) +
      "</strong> \u00b7 suggested <strong id='sample-suggested'" + (agree ? "" : " class='ll-suggest-differs'") + ">" +
      cls(i.suggested) + "</strong> (" + (+i.suggested_prob).toFixed(2) + ") \u00b7 quality " + (+i.quality).toFixed(2) + "</div>" +
      "<div class='small mt-1'>" + (i.accepted
        ? "<span class='badge bg-success' id='sample-accepted'>accepted as right</span>"
        : "<button class='btn btn-sm btn-outline-success ll-accept-btn py-0' title='this label is right: stop suggesting it (key a)'>accept label</button>") +
      "</div>";
  }

  function html(b) {
    var unset = b.label === null || b.label === undefined;
    var top = (b.top || []).map(function (t) {
      return "<tr><td class='pe-2'>" + cls(t[0]) + "</td><td>" + (+t[1]).toFixed(2) + "</td></tr>";
    }).join("");
    var recon = !b.full ? "" : "<figure class='ll-fig'>" + (b.recon
      ? "<img class='ll-digit' alt='reconstruction' src='" + esc(b.recon) + "'>"
      : "<div class='ll-digit ll-na'>n/a</div>") + "<figcaption>reconstruction</figcaption></figure>";
    var truth = !b.full ? "" : "<div class='small'>true <strong>" + (b.true === null || b.true === undefined ? "unknown" : cls(b.true)) + "</strong></div>";
    var out = "<div class='ll-sample-row' data-fast-serial='" + (b.serial | 0) + "'>" +
      "<figure class='ll-fig'><img class='ll-digit' alt='sample " + (b.serial | 0) + "' src='" + esc(b.image) + "'><figcaption>image</figcaption></figure>" +
      recon +
      "<div class='ll-sample-info'><div><span class='fw-bold me-2 ll-fast-serial' id='sample-serial'>#" + (b.serial | 0) + "</span>" +
      "<span class='badge bg-" + (b.split === "train" ? "secondary" : "warning") + " me-1'>" + esc(b.split) + "</span></div>" +
      "<div class='small'>label <strong id='sample-label' class='ll-fast-label" + (unset ? "" : " ll-label-set") + "'>" + (unset ? "none" : cls(b.label)) + "</strong></div>" +
      truth + (b.issue && !unset && b.issue.given === b.label ? issueLine(b.issue) : "") +
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

  var NONE = "<div class='ll-sample-empty'><p class='mb-1 fw-semibold'>No sample selected.</p>" +
    "<p class='text-muted small mb-0'>Click a point on the map, or press <kbd>n</kbd> for the next candidate.</p></div>";

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
    if (f) { f.style.display = "none"; f.innerHTML = ""; }
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
        if (serial in optimistic) b.label = optimistic[serial].label; // a label key the server has not confirmed yet
        LL.samples[serial] = b;
        if (LL.selected !== serial) return;
        if (b.xy) LL.setServerRing(b.xy); // the ring of a map without per-point arrays (ring.js)
        if (serverSerial() !== serial) draw(b);
      })
      .catch(function () {}); // the panel of the queue's data (or "loading") stays
  }

  LL.on("select", function (e) {
    watch();
    var s = e.serial;
    if (serverSerial() === s) { hideFast(); return; }
    if (s === null) { showFast(NONE, null); return; }
    var b = LL.samples[s];
    if (b) draw(b);
    else {
      LL.samplesLoading += 1;
      showFast("<div class='ll-sample-empty text-muted ll-loading'>loading sample #" + (s | 0) + " …</div>", null);
    }
    fetchSample(s); // the whole panel (the label may have changed since the queue's data came)
  });

  // The label is on screen at once (the server's panel follows); a later p shows it too.
  var optimistic = {}; // serial -> {label, seq}: labels sent, not yet acknowledged
  LL.on("label", function (e) {
    optimistic[e.serial] = { label: e.label, seq: e.seq };
    var b = LL.samples[e.serial];
    if (!b || b.split !== "train") return;
    b.label = e.label;
    if (fastShown() && fastSerial === e.serial) showFast(html(b), b.serial);
  });
  LL.on("ack", function (e) {
    for (var k in optimistic) if (optimistic[k].seq <= e.seq) delete optimistic[k];
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
