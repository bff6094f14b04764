"""The dashboard in Debian's Chromium (Playwright), on a small synthetic dataset.

One server and one page for the module; the tests run in order (select, label, undo, colours,
training) like a user would. A missing /usr/bin/chromium fails them: `make test` installs it.
The last test takes a screenshot into pytest's temporary directory; with
LATENTLOOP_UPDATE_DOC_SCREENSHOT=1 it also replaces docs/dashboard.png (docs/dashboard.md).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from app import colours as app_colours
from app import figures
from app.testing import (
    GD,
    ISOLATED_POINT,
    MAP_READY,
    OV,
    OVERLAY_LABEL,
    POINT_PIXEL,
    browser_page,
    serving,
    wait_file_contains,
    wait_settled,
)
from tests.helpers import ROOT, tiny_config_dict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
N_TRAIN = 600


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    from engine.config import from_dict

    with serving(
        tmp_path_factory.mktemp("browser"),
        N_TRAIN,
        200,
        from_dict(tiny_config_dict()),
        label_poll_ms=2000,
        train_poll_ms=300,
    ) as app:
        yield app


@pytest.fixture(scope="module")
def page(running):
    with browser_page(running.url) as pg:
        yield pg


def _csv(running) -> Path:
    return running.state.labels.path


TRAIN_BUTTONS = ("#btn-start", "#btn-pause", "#btn-resume", "#btn-stop")


def _expect_buttons(page, state: str, enabled: list[str]) -> None:
    """Wait until the panel shows ``state`` with exactly ``enabled`` of the training buttons enabled."""
    want = [[b, b in enabled] for b in TRAIN_BUTTONS]
    try:
        page.wait_for_function(
            "([s, want]) => document.querySelector('#train-state').textContent === s && "
            "want.every(([id, on]) => document.querySelector(id).disabled === !on)",
            arg=[state, want],
            timeout=180_000,
        )
    except Exception:
        shown = page.inner_text("#train-state")
        raise AssertionError(
            f"state {shown!r}, enabled {[b for b in TRAIN_BUTTONS if not page.is_disabled(b)]}; "
            f"expected {state!r} with {enabled}"
        ) from None


# The overlay's WebGL draws from now on (None if plotly replaced its scene: a full replot).
COUNT_OVERLAY_DRAWS = f"""() => {{
  const scene = window.__llOvScene = {OV}._fullLayout._plots.xy._scene, draw = scene.draw;
  window.__llOvDraws = 0;
  scene.draw = function () {{ window.__llOvDraws += 1; return draw.apply(this, arguments); }};
}}"""
OVERLAY_DRAWS = f"() => {OV}._fullLayout._plots.xy._scene === window.__llOvScene ? window.__llOvDraws : null"


def _expect_ring_at(page, idx: int) -> None:
    box = page.locator("#map-ring").bounding_box()
    x, y = page.evaluate(POINT_PIXEL, idx)
    assert box is not None and box["width"] == 21
    assert abs(box["x"] + box["width"] / 2 - x) < 1.5 and abs(box["y"] + box["height"] / 2 - y) < 1.5, (box, x, y)


def _select_isolated(page) -> int:
    idx, dist = page.evaluate(ISOLATED_POINT, 400)
    assert idx >= 0 and dist > 3, (idx, dist)
    x, y = page.evaluate(POINT_PIXEL, idx)
    page.mouse.click(x, y)
    page.wait_for_function("(i) => window.LL.selected === i", arg=idx)
    page.wait_for_function(
        "(i) => { const e = document.querySelector('#sample-serial'); return e && e.textContent === '#' + i; }", arg=idx
    )
    return idx


def test_page_loads_with_a_map(page, running):
    page.wait_for_function(MAP_READY, arg=N_TRAIN, timeout=60_000)
    info = page.evaluate(
        f"() => {{ const gd = {GD}; "
        "return [gd._fullData[0].x.constructor.name, gd.data[0].type, gd.layout.uirevision]; }"
    )
    assert info == ["Float32Array", "scattergl", "latent-map"]  # typed arrays reached plotly as such
    assert page.inner_text("#model-badge") == "untrained"
    assert "Untrained model" in page.inner_text("#untrained-alert")
    # the queue arrives with the map's sync or the next poll
    page.wait_for_function(
        "(n) => document.querySelectorAll('.ll-queue-item').length === n", arg=running.state.settings.queue_size
    )
    assert [b for b in TRAIN_BUTTONS if not page.is_disabled(b)] == ["#btn-start"]  # idle: only Start
    assert "no checkpoints yet" in page.inner_text("#ckpt-select")
    assert not page.errors


def test_clicking_a_point_selects_it(page, running):
    page.wait_for_function("() => window.LL.overlayPlots > 0")
    wait_settled(page)  # the overlay's first plots (ranges copied from the map) are done
    page.evaluate(COUNT_OVERLAY_DRAWS)
    idx = _select_isolated(page)
    # the ring is around the point's pixel; no WebGL canvas was redrawn for it
    _expect_ring_at(page, idx)
    page.wait_for_timeout(300)
    assert page.evaluate(OVERLAY_DRAWS) == 0
    # image and reconstruction: the whole panel, drawn by the page from /_ll/sample
    page.wait_for_function(
        "(s) => document.querySelectorAll(`#sample-fast [data-fast-serial='${s}'] img`).length === 2", arg=idx
    )
    assert page.evaluate("() => window.LL.rings") >= 1  # moved in the browser at the click
    # hover shows the sample number, the prediction and the certainty
    x, y = page.evaluate(POINT_PIXEL, idx)
    page.mouse.move(x + 1, y)
    page.wait_for_selector("#latent-map .hovertext")
    text = page.locator("#latent-map .hovertext").first.text_content()
    assert f"#{idx}" in text and "predicted" in text and "certainty" in text


def test_pressing_3_labels_and_recolours_with_a_small_patch(page, running):
    idx = page.evaluate("() => window.LL.selected")
    assert idx is not None
    with page.expect_response(
        lambda r: (
            "_dash-update-component" in r.url
            and '"ll-events.data"' in (r.request.post_data or "")
            and '"label":3' in (r.request.post_data or "")
        )
    ) as resp:
        page.keyboard.press("3")
    wait_file_contains(_csv(running), f"{idx},3")
    response = json.loads(resp.value.body())["response"]
    assert "latent-map" not in response  # the big graph is not touched
    figure = response["latent-overlay"]["figure"]
    assert figure.get("__dash_patch_update") and len(json.dumps(figure)) < 1500  # one overlay slot
    page.wait_for_function(
        f"(s) => {{ const r = ({OVERLAY_LABEL})(s); return r && r[0] === 3 && r[1] === 3; }}", arg=idx
    )
    page.wait_for_function("() => document.querySelector('#stat-labelled').textContent === '1'")
    assert page.inner_text("#sample-label") == "3"
    _expect_ring_at(page, idx)
    # the labelled point's hover tells its label
    x, y = page.evaluate(POINT_PIXEL, idx)
    page.mouse.move(5, 5)  # away first: plotly only re-emits hover for a newly hovered point
    page.mouse.move(x, y + 1)
    page.wait_for_function(
        "() => { const h = document.querySelector('#latent-map .hovertext');"
        " return h && h.textContent.includes('label 3'); }",
        timeout=5000,
    )


def test_undo_removes_the_label(page, running):
    idx = page.evaluate("() => window.LL.selected")
    page.keyboard.press("Backspace")
    wait_file_contains(_csv(running), f"{idx},3", present=False)
    page.wait_for_function(f"(s) => ({OVERLAY_LABEL})(s) === null", arg=idx)
    page.wait_for_function("() => document.querySelector('#stat-labelled').textContent === '0'")


def test_cli_labels_show_up_within_seconds(page, running):
    start = int(page.inner_text("#stat-cli"))
    serial = 599
    running.state.labels.set(serial, 6, source="cli")  # what `latentloop label set` does
    page.wait_for_function(
        f"(s) => {{ const r = ({OVERLAY_LABEL})(s); return r && r[0] === 6; }}", arg=serial, timeout=10_000
    )
    page.wait_for_function("(n) => document.querySelector('#stat-cli').textContent === String(n)", arg=start + 1)
    running.state.labels.clear(serial, source="cli")
    page.wait_for_function(f"(s) => ({OVERLAY_LABEL})(s) === null", arg=serial, timeout=10_000)


def test_fast_presses_are_each_applied_once_in_order(page, running):
    first, second = page.evaluate("() => window.LL.queue.slice(0, 2)")
    page.keyboard.press("n")
    for key in ("1", "2", "5", "n", "7"):  # no waiting between presses
        page.keyboard.press(key)
    wait_file_contains(_csv(running), f"{first},5")
    wait_file_contains(_csv(running), f"{second},7")
    expected = [(first, 1), (first, 2), (first, 5), (second, 7)]
    for _ in range(100):  # the change log is appended just after the CSV is replaced
        app_changes = [
            (c["serial"], c["new"])
            for e in running.state.labels.history()
            if e.get("source") == "app"
            for c in e["changes"]
            if c["serial"] in (first, second)
        ]
        if app_changes == expected:
            break
        page.wait_for_timeout(20)
    assert app_changes == expected
    page.wait_for_function(f"(s) => {{ const r = ({OVERLAY_LABEL})(s); return r && r[0] === 7; }}", arg=second)
    page.wait_for_function("() => window.LL.outbox.length === 0")  # everything acknowledged
    # the optimistic "pending" points drawn at each keypress are gone once confirmed
    page.wait_for_function(f"() => window.LL.pending.length === 0 && {OV}.data[{figures.PENDING}].x.length === 0")


def test_keys_are_ignored_while_typing_in_an_input(page, running):
    before = _csv(running).read_text()
    seq = page.evaluate("() => window.LL.seq")
    page.click("#ckpt-name")
    page.keyboard.press("End")
    page.keyboard.type("9")
    # the key has reached the input (and the page's key handler) and made no event; anything it
    # started has come back
    page.wait_for_function("() => document.querySelector('#ckpt-name').value.endsWith('9')")
    assert page.evaluate("() => window.LL.seq") == seq
    wait_settled(page)
    assert _csv(running).read_text() == before
    assert page.input_value("#ckpt-name").endswith("9")
    page.fill("#ckpt-name", "ssvae")
    page.locator("#ckpt-name").blur()


def test_help_overlay_toggles_with_question_mark(page):
    page.keyboard.press("?")
    assert page.is_visible("#help-overlay") and "Ctrl+Z" in page.inner_text("#help-overlay")
    page.keyboard.press("Escape")
    assert not page.is_visible("#help-overlay")


# Counts, on the big map, Plotly.react, restyle and redraw calls and WebGL scene draws.
COUNT_REDRAWS = f"""() => {{
  const gd = {GD}, P = window.Plotly, c = window.__llCount = {{react: 0, restyle: 0, redraw: 0, draws: 0}};
  if (!P.__llWrapped) {{
    P.__llWrapped = true;
    for (const name of ['react', 'restyle', 'redraw']) {{
      const orig = P[name];
      P[name] = function (g) {{ if (g === {GD} && window.__llCount) window.__llCount[name] += 1;
                                return orig.apply(this, arguments); }};
    }}
  }}
  const scene = gd._fullLayout._plots.xy._scene;
  if (!scene.__llWrapped) {{
    scene.__llWrapped = true;
    const draw = scene.draw;
    scene.draw = function () {{ if (window.__llCount) window.__llCount.draws += 1;
                                return draw.apply(this, arguments); }};
  }}
}}"""


def test_switching_colour_mode_sends_no_request(page, running):
    # settle first: when this test runs alone, the page's first graph resizes must not count, and
    # the panels' sync after the last label (slow when the label-issue scores are recomputed) neither
    page.wait_for_function(MAP_READY, arg=N_TRAIN, timeout=60_000)
    page.wait_for_function("() => window.LL.more === false", timeout=60_000)
    page.wait_for_timeout(1000)
    posts: list[dict] = []

    def on_request(r):
        if r.method == "POST":
            posts.append(json.loads(r.post_data or "{}"))

    page.on("request", on_request)
    try:
        for label, mode in (
            ("Predicted", "pred"),
            ("Certainty", "certainty"),
            ("True class", "true"),
            ("Component", "component"),
            ("User label", "label"),
        ):
            page.evaluate(COUNT_REDRAWS)
            switches = page.evaluate("() => window.LL.paletteSwitches")
            page.click(f".ll-colour-mode label:has-text('{label}')")
            page.wait_for_function("(n) => window.LL.paletteSwitches === n + 1", arg=switches)
            marker = page.evaluate(f"() => {GD}.data[0].marker")  # plotly's copy: a later replot agrees
            assert _mode_colours(marker) == _expected_colours(running, mode), mode
            page.wait_for_timeout(300)  # a second redraw would come within this
            # the palette written into the scatter's colour buffer and one WebGL draw: no replot
            # (plotly would parse every point's colour), no Plotly.react of the figure, no restyle
            counts = page.evaluate("() => window.__llCount")
            assert counts == {"react": 0, "restyle": 0, "redraw": 0, "draws": 1}, (mode, counts)
            if mode == "pred":
                # the drawn pixel of an isolated point has its predicted class's colour
                v = running.state.cache.current
                idx, _ = page.evaluate(ISOLATED_POINT, N_TRAIN)
                rgb = page.evaluate(DRAWN_PIXEL, idx)
                want = app_colours.TAB10[int(v.pred[idx])]
                assert _close(rgb, want), (idx, rgb, want)
    finally:
        page.remove_listener("request", on_request)
        page.evaluate("() => { window.__llCount = null; }")
    triggers = {p for body in posts if not _autosize_only(body) for p in body.get("changedPropIds", [])}
    # the mode rides along as the sync's State (the "label quality" mode needs the server), but a
    # switch between these modes never triggers a request
    polls = {"label-poll.data", "train-interval.data"}  # poll.js
    assert triggers <= polls, triggers


# JS: the map's own WebGL canvas (not the overlay above it) redrawn, and the RGB at point i's centre.
DRAWN_PIXEL = f"""(i) => {{ const gd = {GD}, fl = gd._fullLayout, fd = gd._fullData[0];
  const scene = fl._plots.xy._scene, gl = scene.scatter2d.regl._gl, r = gl.drawingBufferWidth / fl.width;
  scene.scatter2d.regl.clear({{color: [0, 0, 0, 0], depth: 1}}); scene.draw();
  const x = Math.round((fl._size.l + fl.xaxis.l2p(fd.x[i])) * r);
  const y = Math.round(gl.drawingBufferHeight - (fl._size.t + fl.yaxis.l2p(fd.y[i])) * r);
  const px = new Uint8Array(4); gl.readPixels(x, y, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
  return Array.from(px.slice(0, 3)); }}"""


def _close(rgb: list[int], hex_colour: str, tol: int = 12) -> bool:
    want = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    return all(abs(a - b) <= tol for a, b in zip(rgb, want, strict=True))


def _mode_colours(marker: dict) -> object:
    return marker["color"] if isinstance(marker["color"], str) else marker["colorscale"]


def _expected_colours(running, mode: str) -> object:
    v = running.state.cache.current
    colours = {
        "pred": app_colours.palette(v.num_classes),
        "true": app_colours.palette(v.num_classes),
        "certainty": app_colours.CERTAINTY_COLOURS,
        "component": app_colours.palette(v.components),
    }
    return app_colours.UNLABELLED if mode == "label" else app_colours.stepped_colorscale(colours[mode])


def _autosize_only(body: dict) -> bool:
    """A request of the feedback graph's first resize (``relayoutData == {"autosize": true}``):
    whenever the hidden graph gets its size, which on a busy machine can fall into any test."""
    changed = body.get("changedPropIds", [])
    values = [
        i.get("value") for i in body.get("inputs", []) if isinstance(i, dict) and i.get("property") == "relayoutData"
    ]
    return changed == ["fb-graph.relayoutData"] and values == [{"autosize": True}]


def test_a_figure_patch_keeps_the_colour_mode(page, running):
    """Dash's copy of the figure holds the switched marker: a later Patch of the figure (here of its
    layout, as the sync's new map version sends with its data) redraws in the chosen mode."""
    switches = page.evaluate("() => window.LL.paletteSwitches")
    page.click(".ll-colour-mode label:has-text('Predicted')")
    page.wait_for_function("(n) => window.LL.paletteSwitches === n + 1", arg=switches)
    page.evaluate(
        "() => { const dc = window.dash_clientside, p = new dc.Patch();"
        " p.assign(['layout', 'plot_bgcolor'], '#fefefe'); dc.set_props('latent-map', {figure: p.build()}); }"
    )
    page.wait_for_function(f"() => {GD}._fullLayout.plot_bgcolor === '#fefefe'")
    colours = page.evaluate(f"() => Array.from({GD}._fullData[0].marker.color.slice(0, 50))")
    assert colours == running.state.cache.current.pred[:50].tolist()
    # the figure was re-reacted from Dash's copy: plotly's own replot draws the same colours
    v = running.state.cache.current
    idx, _ = page.evaluate(ISOLATED_POINT, N_TRAIN)
    assert _close(page.evaluate(DRAWN_PIXEL, idx), app_colours.TAB10[int(v.pred[idx])])
    page.click(".ll-colour-mode label:has-text('User label')")
    page.wait_for_function(f"() => typeof {GD}.data[0].marker.color === 'string'")


def _current_serial(page) -> int:
    return int(page.inner_text("#sample-serial").lstrip("#"))


def _next(page) -> int:
    """Press n and return the newly selected sample."""
    old = page.evaluate("() => (document.querySelector('#sample-serial') || {}).textContent || ''")
    page.keyboard.press("n")
    page.wait_for_function(
        "(old) => { const e = document.querySelector('#sample-serial'); return e && e.textContent !== old; }", arg=old
    )
    return _current_serial(page)


XAI_READY = "(s) => !!document.querySelector(`#xai-panel [data-state=ready][data-serial='${s}']`)"


def test_selecting_a_sample_shows_its_saliency(page, running):
    idx = _next(page)
    page.wait_for_function(XAI_READY, arg=idx, timeout=90_000)  # the first one waits for the worker to start
    assert page.locator("#xai-panel img").count() == 3  # Grad-CAM, SmoothGrad, consensus
    assert "snapshot step" in page.inner_text("#xai-meta")
    for _ in range(3):  # later selections: the overlay follows the selection
        idx = _next(page)
        page.wait_for_function(XAI_READY, arg=idx, timeout=30_000)
    # another target: the true label
    page.click("#xai-target")
    page.get_by_role("option", name="true label", exact=True).click()
    page.wait_for_function(
        "() => document.querySelector('#xai-panel').textContent.includes('(true label)')", timeout=30_000
    )
    assert not page.errors


def test_a_selection_makes_no_dash_callback_and_shows_the_sample_with_its_saliency(page, running):
    calls = []

    def on_request(req):
        if "_dash-update-component" in req.url:
            ids = json.loads(req.post_data or "{}").get("changedPropIds", [])
            if not set(ids) <= {"label-poll.data", "train-interval.data"}:  # poll.js's, not the selection's
                calls.append(ids)

    page.on("request", on_request)
    try:
        for _ in range(3):
            idx = _current_serial(page)
            nxt = page.evaluate("(s) => { const q = window.LL.queue; return q[(q.indexOf(s) + 1) % q.length]; }", idx)
            page.evaluate("(s) => window.LL.select(s)", nxt)
            # the whole panel: the image and its reconstruction, drawn by sample.js into #sample-fast
            page.wait_for_function(
                "(s) => document.querySelectorAll(`#sample-fast [data-fast-serial='${s}'] img`).length === 2", arg=nxt
            )
            assert page.inner_text("#sample-serial") == f"#{nxt}"
            page.wait_for_function(XAI_READY, arg=nxt, timeout=30_000)
            assert page.locator("#xai-panel img").count() == 3
        page.wait_for_function("() => window.LL.outbox.length === 0")  # the server knows it (/_ll/events)
        assert running.state.clients.selected_of(page.evaluate("() => window.LL.client")) == nxt
        page.wait_for_timeout(500)
    finally:
        page.remove_listener("request", on_request)
    assert calls == []
    assert not page.errors


def test_drawing_a_box_stores_feedback_and_the_list_removes_it(page, running):
    idx = _current_serial(page)
    fb = running.state.feedback.path
    labels_before = _csv(running).read_text() if _csv(running).exists() else ""
    page.click("#fb-open summary")  # closed, the editor costs a selection nothing; open, it follows it
    page.wait_for_selector("#fb-graph .nsewdrag", state="visible")
    page.wait_for_function("() => !!document.querySelector('#fb-graph .js-plotly-plot').layout.images?.length")
    # laid out at its own size, not plotly's default one (it was drawn while the editor was closed)
    page.wait_for_function("() => document.querySelector('#fb-graph .js-plotly-plot')._fullLayout.width < 200")
    page.locator("#fb-graph").scroll_into_view_if_needed()
    b = page.locator("#fb-graph .nsewdrag").bounding_box()
    x0, y0 = b["x"] + 0.2 * b["width"], b["y"] + 0.3 * b["height"]
    x1, y1 = b["x"] + 0.8 * b["width"], b["y"] + 0.8 * b["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    page.wait_for_function("() => (document.querySelector('#fb-meaning') || {}).textContent?.includes('look inside')")
    page.fill("#fb-text", "strength 0.5")  # digits typed into the field must not label the sample
    page.wait_for_function("() => document.querySelector('#fb-meaning').textContent.includes('strength 0.50')")
    page.click("#fb-apply")
    page.wait_for_function("(s) => !!document.querySelector(`#fb-list [data-serial='${s}']`)", arg=idx)
    rows = [json.loads(line) for line in fb.read_text().splitlines()]
    row = next(r for r in rows if r["sample_idx"] == idx)
    assert [row["x0"], row["y0"], row["x1"], row["y1"]] == pytest.approx([0.2, 0.3, 0.8, 0.8], abs=0.03)
    assert row["strength"] == 0.5 and row["instruction"] == "strength 0.5"
    assert idx in running.state.session.trainer.feedback  # handed to the (idle) trainer
    assert "#" + str(idx) in page.inner_text("#fb-message")
    saved = page.evaluate("() => document.querySelector('#fb-graph .js-plotly-plot').layout.shapes.map(s => s.name)")
    assert saved == ["saved"]  # the stored box is drawn (dashed) on the image
    assert (_csv(running).read_text() if _csv(running).exists() else "") == labels_before
    # the list's remove button
    page.click("#fb-details summary")
    page.click(f"#fb-list [data-serial='{idx}'] button")
    page.wait_for_function("(s) => !document.querySelector(`#fb-list [data-serial='${s}']`)", arg=idx)
    assert all(json.loads(line)["sample_idx"] != idx for line in fb.read_text().splitlines())
    assert idx not in running.state.session.trainer.feedback
    page.click("#fb-open summary")  # closed again
    assert not page.errors


def test_the_forecast_queue_says_why_the_review_window_is_closed(page, running):
    page.wait_for_selector("#review-window", timeout=60_000)
    assert page.inner_text("#review-window") == "review window closed"  # an untrained model
    page.click("#queue-strategy")
    page.get_by_role("option", name="forecast: likely wrong next", exact=True).click()
    page.wait_for_function("() => document.querySelector('#queue-source').textContent.includes('closed by min_steps')")
    assert page.locator(".ll-queue-item").count() == 0
    page.click("#queue-strategy")
    page.get_by_role("option", name="entropy", exact=True).click()
    page.wait_for_function("() => document.querySelectorAll('.ll-queue-item').length > 0")


def test_a_killed_xai_worker_is_restarted_and_the_page_keeps_working(page, running):
    import os
    import signal

    pid = running.state.hub.pid("xai")
    os.kill(pid, signal.SIGKILL)
    page.wait_for_function(
        "() => document.querySelector('#worker-status').textContent.includes('restarted')", timeout=60_000
    )
    idx = _next(page)  # selecting never depended on the worker
    page.wait_for_function(XAI_READY, arg=idx, timeout=90_000)
    assert running.state.hub.pid("xai") not in (None, pid)
    assert not page.errors


def test_start_trains_the_curve_grows_and_zoom_survives_a_refresh(page, running):
    page.wait_for_function(MAP_READY, arg=N_TRAIN, timeout=60_000)
    full = page.evaluate(f"() => {GD}.layout.xaxis.range.slice()")
    # the map at the top of the window: the earlier tests leave the page scrolled wherever their last
    # click was, and a wheel outside the map scrolls the page instead of zooming ("instant": Bootstrap
    # makes scrolling smooth, and the map would move under the mouse while it zooms)
    page.evaluate("() => window.scrollTo({top: 0, behavior: 'instant'})")
    page.wait_for_function("() => window.scrollY === 0")
    box = page.locator("#latent-map").bounding_box()
    assert 0 <= box["y"] + box["height"] / 2 <= 768, box  # the map's centre is in the window
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(3):  # a user's scroll-zoom (uirevision keeps user changes, not scripted ones)
        page.mouse.wheel(0, -200)
        page.wait_for_timeout(150)
    page.wait_for_timeout(500)
    zoom = page.evaluate(f"() => [{GD}.layout.xaxis.range.slice(), {GD}.layout.yaxis.range.slice()]")  # as constrained
    assert zoom[0][1] - zoom[0][0] < 0.9 * (full[1] - full[0]), (zoom, full)  # the wheel zoomed the map
    page.click(".ll-colour-mode label:has-text('Certainty')")
    page.wait_for_function(f"() => {GD}._fullData[0].marker.cmax === 100.5")  # 101 stepped certainty colours
    recolours = page.evaluate("() => window.LL.recolours")
    version = running.state.cache.version
    page.fill("#train-steps", "100000")
    page.fill("#train-refresh", "40")
    page.click("#btn-start")  # "save checkpoint when the run ends" stays ticked: Stop saves 'ssvae'
    _expect_buttons(page, "running", ["#btn-pause", "#btn-stop"])
    page.wait_for_function(
        "() => document.querySelector('#loss-curve .js-plotly-plot').data[0].x.length >= 2", timeout=120_000
    )
    n1 = page.evaluate("() => document.querySelector('#loss-curve .js-plotly-plot').data[0].x.length")
    page.wait_for_function(
        "(n) => document.querySelector('#loss-curve .js-plotly-plot').data[0].x.length > n", arg=n1, timeout=120_000
    )
    assert "samples/s" in page.inner_text("#train-sps")
    # a new embedding version reaches the map without losing the zoom
    page.wait_for_function(f"(v) => {GD}.layout.meta && {GD}.layout.meta.version > v", arg=version, timeout=180_000)
    rng = page.evaluate(f"() => [{GD}.layout.xaxis.range, {GD}.layout.yaxis.range]")
    assert rng[0] == pytest.approx(zoom[0]) and rng[1] == pytest.approx(zoom[1])
    assert rng[0][1] - rng[0][0] < 0.9 * (full[1] - full[0])  # still zoomed in
    page.wait_for_function(MAP_READY, arg=N_TRAIN)
    # ... and in the chosen colour mode, drawn by the server's figure: no recolour of its own
    marker = page.evaluate(f"() => {{ const m = {GD}._fullData[0].marker; return [m.cmax, m.color.length]; }}")
    assert marker == [100.5, N_TRAIN] and page.evaluate("() => window.LL.recolours") == recolours


def test_pause_stops_the_step_counter(page, running, tmp_path):
    page.click("#btn-pause")
    _expect_buttons(page, "paused", ["#btn-resume", "#btn-stop"])
    s1 = page.inner_text("#train-step")
    step = running.state.session.trainer.step
    page.wait_for_timeout(2000)
    assert page.inner_text("#train-step") == s1 and running.state.session.trainer.step == step
    page.click("#btn-resume")
    _expect_buttons(page, "running", ["#btn-pause", "#btn-stop"])
    page.click("#btn-stop")
    _expect_buttons(page, "stopped", ["#btn-start"])
    # the run's automatic save shows up in the checkpoint list without a reload
    assert "saved checkpoint 'ssvae'" in page.inner_text("#train-message")
    page.wait_for_function(
        "() => document.querySelector('#ckpt-select').textContent.includes('ssvae (step')", timeout=10_000
    )
    # settle, then the screenshot for docs/dashboard.md (labels, curves, a coloured map)
    page.click(".ll-colour-mode label:has-text('Predicted')")
    page.keyboard.press("n")
    page.wait_for_selector("#sample-serial")
    page.wait_for_function(
        f"(cs) => JSON.stringify({GD}.data[0].marker.colorscale) === JSON.stringify(cs)",
        arg=_expected_colours(running, "pred"),
    )
    images_loaded = "() => Array.from(document.querySelectorAll('#sample-panel img')).every((i) => i.complete)"
    page.wait_for_function(images_loaded)
    wait_settled(page)
    # the click on the colour radio may have scrolled it into view (the page is taller than the
    # window): the double-click must land on the map, wherever the cards above it end
    page.locator("#latent-map").scroll_into_view_if_needed()
    box = page.locator("#latent-map").bounding_box()
    page.evaluate(f"() => {{ window.__llDbl = false; {GD}.once('plotly_relayout', () => (window.__llDbl = true)); }}")
    page.mouse.dblclick(box["x"] + 12, box["y"] + 12)  # double-click: back to the whole map
    page.wait_for_function("() => window.__llDbl")  # the map has been relaid out
    wait_settled(page)
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size < 600_000
    if os.environ.get("LATENTLOOP_UPDATE_DOC_SCREENSHOT") == "1":  # only on purpose: the file is tracked
        shutil.copyfile(shot, ROOT / "docs" / "dashboard.png")
    assert not page.errors
