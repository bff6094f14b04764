"""The Dash app: construction, the Host and Origin guards, and serving it."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dash import Dash
from flask import Flask, Response, jsonify, request

from app.callbacks import register_callbacks
from app.layouts import build_layout
from app.presenter import views
from app.presenter.label_page import LabelPage
from app.presenter.saliency import saliency_answer, saliency_view
from app.services.xai import parse_target
from app.settings import LOOPBACK_NAMES
from app.state import AppState
from app.viewmodels import PageContext

ASSETS = Path(__file__).resolve().parent / "assets"
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}
LIVE_PATH = "/_ll/live"  # polled by app/assets/poll.js
SAMPLE_PATH = "/_ll/sample"  # fetched by app/assets/sample.js for every selection
SALIENCY_PATH = "/_ll/saliency"  # fetched by app/assets/xai.js for every selection
EVENTS_PATH = "/_ll/events"  # posted by app/assets/input.js: a selection, without a Dash callback
PREFS_PATH = "/_ll/prefs"  # posted by app/assets/input.js when the auto-advance switch changes
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(host_header: str | None) -> str:
    """The name part of a Host header: ``[::1]:8050`` -> ``::1``, ``LocalHost:80`` -> ``localhost``."""
    h = (host_header or "").strip().lower()
    if h.startswith("["):
        end = h.find("]")
        return h[1:end] if end > 0 else ""
    if h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


def origin_host(origin: str | None) -> str:
    """The host name of an ``Origin``/``Referer`` value: ``http://[::1]:8050/x`` -> ``::1``;
    ``""`` for ``null`` (sandboxed frames, file pages) or anything without a host."""
    try:
        return (urlsplit((origin or "").strip()).hostname or "").rstrip(".")
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return ""


def _forbidden(why: str) -> Response:
    return Response(f"Forbidden: this dashboard only {why}.\n", status=403, mimetype="text/plain")


def install_host_check(server: Flask, extra_hosts: Iterable[str] = ()) -> None:
    """Refuse with 403 requests whose Host is not a loopback name, and state-changing requests
    (POST, ...) whose ``Origin`` (or, without one, ``Referer``) is not a loopback origin.

    A web page the user visits can point its own domain at 127.0.0.1 (DNS rebinding) and then talk
    to this server from the user's browser; its requests still carry that domain in the Host
    header, so checking the header keeps such pages from relabelling the user's data. A page can
    also post to http://127.0.0.1:8050 directly (cross-site request): the Host is then ours, but the
    browser names the page's origin in ``Origin``/``Referer``. Requests without either (curl,
    scripts) pass: they are not a browser acting for another site.
    """
    allowed = set(LOOPBACK_NAMES) | {host_name(h) for h in extra_hosts if host_name(h) not in WILDCARD_HOSTS}

    @server.before_request
    def _only_loopback_hosts() -> Response | None:
        if host_name(request.headers.get("Host")) not in allowed:
            return _forbidden("answers requests for localhost")
        if request.method not in SAFE_METHODS:
            source = request.headers.get("Origin")
            if source is None:
                source = request.headers.get("Referer")
            if source is not None and origin_host(source) not in allowed:
                return _forbidden("accepts changes from its own pages on localhost")
        return None


def curve_cursor(args: Any) -> tuple[tuple[int, int] | None, str]:
    """The live request's curve cursor ``m`` (metrics rows) and ``e`` (evaluations) the tab's curves
    hold: ``(None, "")`` without them, ``(None, why)`` when they are not two counts."""
    if "m" not in args and "e" not in args:
        return None, ""
    try:
        m, e = int(args.get("m", "")), int(args.get("e", ""))
    except ValueError:
        return None, f"m and e must be integers, not {args.get('m', '')[:20]!r} and {args.get('e', '')[:20]!r}"
    if m < 0 or e < 0:
        return None, f"m and e count curve points: not negative ({m}, {e})"
    return (m, e), ""


def install_live_endpoint(server: Flask, state: AppState) -> None:
    """``GET /_ll/live[?m=M&e=E]``: what changed, as JSON (:meth:`LabelPage.live`), for the page's
    poll script; a plain fetch instead of a Dash callback, so an unchanged poll costs the browser
    next to nothing. With the tab's curve cursor, the curve points it lacks (400 for a bad one)."""

    @server.get(LIVE_PATH)
    def _live() -> Response:
        cursor, why = curve_cursor(request.args)
        if why:
            return _json_error(why, 400)
        resp = jsonify(LabelPage(state).live(cursor))
        resp.headers["Cache-Control"] = "no-store"
        return resp


def _serial_arg(state: AppState) -> tuple[int | None, Response | None]:
    """The request's ``serial``: a point of the current map, or the error response (400 for a
    serial that is not one, 503 before the first map)."""
    v = state.cache.current
    raw = request.args.get("serial", "")
    if v is None:
        return None, _json_error("no map yet", 503)
    try:
        serial = int(raw)
    except ValueError:
        return None, _json_error(f"serial must be an integer, not {raw[:40]!r}", 400)
    if not 0 <= serial < v.n_points:
        return None, _json_error(f"serial {serial} is not a point of the map (0..{v.n_points - 1})", 400)
    return serial, None


def install_sample_endpoint(server: Flask, state: AppState) -> None:
    """``GET /_ll/sample?serial=N``: the whole sample panel of one point as JSON
    (:func:`app.presenter.views.sample_full`), for a selection: the page draws it without a Dash
    callback."""

    @server.get(SAMPLE_PATH)
    def _sample() -> Response:
        serial, error = _serial_arg(state)
        if error is not None or serial is None:
            return error or _json_error("no serial", 400)
        resp = jsonify(views.sample_full(state, serial))
        resp.headers["Cache-Control"] = "no-store"
        return resp


def install_saliency_endpoint(server: Flask, state: AppState) -> None:
    """``GET /_ll/saliency?client=TAB&serial=N&target=pred|true|C[&poll=1]``: the sample's saliency
    from the XAI worker as JSON (:func:`app.presenter.saliency.saliency_view`), waiting up to
    ``settings.xai_sync_wait_ms`` for it; "pending" until then, and the page asks again with
    ``poll=1``. Read-only for the labels: a request per tab is all it keeps."""

    @server.get(SALIENCY_PATH)
    def _saliency() -> Response:
        serial, error = _serial_arg(state)
        if error is not None or serial is None:
            return error or _json_error("no serial", 400)
        client = request.args.get("client", "")[:64]
        target = parse_target(request.args.get("target", "pred"))
        wait_s = state.settings.xai_sync_wait_ms / 1000.0
        ans = saliency_answer(state.xai, client, serial, target, request.args.get("poll") == "1", wait_s)
        image = state.dataset.images[ans.result.sample_idx] if ans.result is not None else None
        resp = jsonify(saliency_view(ans, image, state.class_names) | {"asked": serial})
        resp.headers["Cache-Control"] = "no-store"
        return resp


def install_events_endpoint(server: Flask, state: AppState) -> None:
    """``POST /_ll/events`` with ``{"client": TAB, "events": [...]}``: the tab's events applied
    once and in order (:meth:`app.services.sync.ClientSync.apply_events`, as the sync callback
    does), answered with ``{"ack", "notices"}``. The page posts here when it holds nothing but a
    selection, so that the server knows it without a Dash round trip."""

    @server.post(EVENTS_PATH)
    def _events() -> Response:
        body = request.get_json(silent=True)
        client = body.get("client") if isinstance(body, dict) else None
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(client, str) or not client or not isinstance(events, list):
            return _json_error('expected {"client": "<tab>", "events": [...]}', 400)
        ack, notices = state.clients.apply_events(client[:64], events)
        return jsonify({"ack": ack, "notices": notices})


def install_prefs_endpoint(server: Flask, state: AppState) -> None:
    """``POST /_ll/prefs`` with ``{"auto_advance": bool}``: remember the choice for this dataset
    (:class:`app.services.page_prefs.PagePrefs`); answers the stored value. The Origin check of
    :func:`install_host_check` applies (a state-changing request)."""

    @server.post(PREFS_PATH)
    def _prefs() -> Response:
        body = request.get_json(silent=True)
        on = body.get("auto_advance") if isinstance(body, dict) else None
        if not isinstance(on, bool):
            return _json_error('expected {"auto_advance": true|false}', 400)
        state.prefs.set_auto_advance(on)
        if state.prefs.error:
            return _json_error(state.prefs.error, 500)
        return jsonify({"auto_advance": state.prefs.auto_advance()})


def _json_error(message: str, status: int) -> Response:
    resp = jsonify({"error": message})
    resp.status_code = status
    return resp


def layout_context(state: AppState) -> PageContext:
    """What a tab's layout is built from: the state's page context with the live answer (read
    first: it folds the trainer's queued events in)."""
    return state.page_context(live=LabelPage(state).live())


def create_app(state: AppState) -> Dash:
    """The dashboard for an already built :class:`AppState`."""
    app = Dash(__name__, assets_folder=str(ASSETS), title="LatentLoop", update_title=None, serve_locally=True)
    app.layout = lambda: build_layout(layout_context(state))  # per tab: fresh status and start position
    register_callbacks(app, state)
    install_live_endpoint(app.server, state)
    install_sample_endpoint(app.server, state)
    install_saliency_endpoint(app.server, state)
    install_events_endpoint(app.server, state)
    install_prefs_endpoint(app.server, state)
    s = state.settings
    install_host_check(app.server, [*s.allowed_hosts, s.host])
    return app


class ServerThread:
    """Serve ``app`` with a threaded werkzeug server in a daemon thread (tests, benchmarks)."""

    def __init__(self, app: Dash, host: str = "127.0.0.1", port: int = 0) -> None:
        import logging

        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in test output
        self.server = make_server(host, port, app.server, threaded=True)
        self.host = host
        self.port = int(self.server.server_port)
        self.thread = threading.Thread(target=self.server.serve_forever, name="latentloop-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> ServerThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(app: Dash, host: str, port: int, debug: bool = False) -> None:
    """Blocking: serve until interrupted (werkzeug, one thread per request)."""
    app.run(host=host, port=port, debug=debug, use_reloader=False, threaded=True)
