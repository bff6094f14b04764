/* The selected sample's saliency, drawn by the page: no Dash callback for a selection.
 *
 * Every selection (and every change of the "Why" target menu: clientside.js "xaiTarget") asks
 * /_ll/saliency (app/server.py; app/presenter/saliency.py), which sends the request to the XAI
 * worker and waits up to settings.xai_sync_wait_ms for its answer; a slower one comes back as
 * "pending" ("computing saliency…") and is asked for again with poll=1 every POLL_MS until it is
 * ready. The answer is drawn into #xai-panel, which Dash never writes into: Grad-CAM, SmoothGrad
 * and their consensus (data-method), what they explain, how well the two methods agree, and the
 * snapshot step (#xai-meta); the panel's root says which sample it is about (data-serial,
 * data-state="ready"). An answer about an older selection or target is dropped.
 */
(function () {
  "use strict";
  var LL = window.LL;
  var POLL_MS = 100;
  var esc = LL.esc;
  LL.saliencyFetches = 0; // requests to /_ll/saliency (tests read it)
  LL.xaiTarget = "pred";
  var asked = null; // the newest request: {serial, target}
  var timer = null;

  function el(id) { return document.getElementById(id); }

  function setStatus(text) {
    var st = el("xai-status");
    if (st && st.textContent !== text) st.textContent = text;
  }

  function html(a) {
    var figs = (a.images || []).map(function (i) {
      return "<figure class='ll-fig' data-method='" + esc(i.method) + "'><img class='ll-digit ll-xai-img' alt='" +
        esc(i.method + " of #" + a.serial) + "' src='" + esc(i.src) + "'><figcaption>" + esc(i.name) + "</figcaption></figure>";
    }).join("");
    return "<div data-serial='" + (a.serial | 0) + "' data-step='" + (a.step | 0) + "' data-state='ready'>" +
      "<div class='ll-sample-row'>" + figs + "</div>" +
      "<div class='small'><span class='me-2'>" + esc(a.explains) + "</span><span class='text-muted'>" + esc(a.top) + "</span></div>" +
      "<div class='small'><span>" + esc(a.agree ? a.agree + " \u00b7 " : "") + "</span><span>" + esc(a.box) + "</span></div>" +
      "<div class='small text-muted' id='xai-meta'>" + esc(a.meta) + "</div></div>";
  }

  function draw(a, polled) {
    var p = el("xai-panel");
    if (!p) return;
    if (a === null) {
      p.innerHTML = "";
      setStatus("");
    } else if (a.state === "ready") {
      p.innerHTML = html(a);
      setStatus("");
    } else {
      if (!polled) p.innerHTML = "<div class='small text-muted ll-xai-msg' data-state='" + esc(a.state) + "'>" + esc(a.message) + "</div>";
      setStatus(a.state === "pending" ? a.message : "");
    }
  }

  function ask(poll) {
    clearTimeout(timer);
    var s = LL.selected;
    if (s === null) {
      asked = null;
      draw(null);
      return;
    }
    var mine = (asked = { serial: s, target: LL.xaiTarget });
    LL.saliencyFetches += 1;
    var url = "/_ll/saliency?client=" + encodeURIComponent(LL.client) + "&serial=" + s +
      "&target=" + encodeURIComponent(mine.target) + (poll ? "&poll=1" : "");
    fetch(url, { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (a) {
        if (asked !== mine) return; // a newer selection or target was asked for meanwhile
        if (a.error) a = { state: "error", message: a.error };
        draw(a, poll);
        if (a.state === "pending") timer = setTimeout(function () { if (asked === mine) ask(true); }, POLL_MS);
      })
      .catch(function () {
        if (asked === mine) timer = setTimeout(function () { if (asked === mine) ask(true); }, 1000); // the server restarts
      });
  }

  LL.on("select", function () { ask(false); });

  // The target menu (a Dash dropdown; its value reaches here by a clientside callback).
  LL.setXaiTarget = function (value) {
    var t = value === null || value === undefined ? "pred" : String(value);
    if (t === LL.xaiTarget) return;
    LL.xaiTarget = t;
    if (LL.selected !== null) ask(false);
  };
})();
