"""The Label page's sync: what a tab must be sent, relative to what it says it holds.

The event protocol (each tab's events applied once, in order) is :class:`~app.services.sync.ClientSync`;
this module answers the rest of a sync from the registered panels (:data:`~app.presenter.panels.PANELS`)
and the map, and gives the live endpoint (``/_ll/live``) its key from the same panel keys, so the
page's poll fires the sync exactly when a panel's key may have moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import Output

from app import density_figures, figures
from app.layouts import latent_map
from app.presenter.panel import Frame, Render
from app.presenter.panels import PANELS
from app.presenter.sources import LabelSources
from app.services.candidates import EXTERNAL
from app.services.embeddings import MapVersion
from app.services.live import train_status
from app.viewmodels import UNCHANGED, ClientView, SyncResult

# The map's own outputs: the graphs, what the tab holds and the acknowledgement, the notices and
# the version badge. With the panels' outputs they are the sync callback's outputs (:data:`OUTPUTS`).
MAP_OUTPUTS = {
    "map": Output("latent-map", "figure"),
    "overlay": Output("latent-overlay", "figure"),
    "colours": Output("colour-store", "data"),
    "view": Output("map-sync", "data"),
    "ack": Output("ll-ack", "data"),
    "notice": Output("notice", "children"),
    "badge": Output("model-badge", "children"),
    "badge_colour": Output("model-badge", "color"),
    "version_text": Output("version-text", "children"),
    "untrained_open": Output("untrained-alert", "is_open"),
    "model_version": Output("model-version", "data"),
}
OUTPUTS: dict[str, Output] = {**MAP_OUTPUTS, **{name: o for p in PANELS for name, o in p.outputs.items()}}
CURVE_LIMIT = 2000  # curve rows per live answer: a tab far behind catches up over a few polls


def point_xy(v: MapVersion, serial: int | None) -> tuple[float, float] | None:
    """Map coordinates of ``serial`` in version ``v`` (None: no such point)."""
    if serial is None or not 0 <= serial < v.n_points:
        return None
    return float(v.xy[serial, 0]), float(v.xy[serial, 1])


class LabelPage:
    """The Label page over its services (``src``: AppState, or anything with the same services)."""

    def __init__(self, src: LabelSources) -> None:
        self.src = src

    def sync(
        self,
        client_id: str,
        events: Sequence[dict[str, Any]],
        view: ClientView,
        strategy: str = "entropy",
        start_id: int = 0,
        colour_mode: str = "",
        highlight: int | None = None,
        probe_choice: str = "",
    ) -> SyncResult:
        """Apply the tab's events, then report what differs from ``view``. ``colour_mode``: the
        tab's map colour mode (the quality and probe panels are sent in their mode only).

        When the tab's events recoloured points of the map the tab shows, the answer is lean: the
        overlay slots, the selection ring and the acknowledgement only, with ``more`` set; the
        panels keep their old keys in the returned view, so the tab's next sync, which input.js
        sends once the recolour is drawn, brings them."""
        src = self.src
        seq_before = src.clients.last_seq(client_id) if client_id else 0
        labels_before = src.labels.version()
        ack, notices = src.clients.apply_events(client_id, events) if client_id else (0, [])
        selected = src.clients.selected_of(client_id) if client_id else None
        labels = src.label_reader.read()
        src.overlay.sync(labels)
        v = src.cache.current
        out = SyncResult(client=view.copy(), ack=ack, notices=notices)
        if v is None:
            return out
        new = out.client
        out.ring = point_xy(v, selected)
        if view.version != v.version:
            full = src.overlay.full()
            if src.density.active(v):  # too many points to send: a raster of the view (app/services/density.py)
                density = src.density
                out.figure = src.cache.derived("map_figure", v, lambda u: density_figures.map_figure(u, density))
                out.colours = src.cache.derived("colours", v, density_figures.colour_store)
            else:
                out.figure = src.cache.derived("map_figure", v, figures.map_figure)  # built once per version
                out.colours = src.cache.derived("colours", v, figures.colour_store)
            out.overlay_figure = figures.overlay_figure(v, full)
            new.version, new.gen, new.rev = v.version, full.gen, full.rev
            new.highlight_key = ""  # the new overlay's highlight trace is empty
        else:
            delta = src.overlay.delta(view.gen, view.rev)
            if delta is None:
                full = src.overlay.full()
                out.overlay_full = figures.overlay_trace(v, full)
                new.gen, new.rev = full.gen, full.rev
            else:
                new.gen, new.rev, slots = delta
                out.overlay_slots = figures.overlay_slot_values(v, slots)
            # lean only for this request's own new events: its ack is new, so the tab's ack
            # callback runs (and asks for the rest), which an unchanged value would not make it do
            recoloured = bool(out.overlay_slots) or out.overlay_full is not UNCHANGED
            if recoloured and ack > seq_before and src.labels.version() != labels_before:
                out.more = True
                return out
        highlight_key = f"{v.version}:{highlight}" if highlight is not None else ""
        if highlight_key != new.highlight_key:
            out.highlight = figures.highlight_trace(v, highlight, labels)
            new.highlight_key = highlight_key
        frame = Frame(src, v, labels, selected, strategy, start_id, colour_mode, probe_choice)
        for panel in PANELS:
            if panel.mode and panel.mode != colour_mode:
                continue
            key = panel.key(frame)
            if key != view.keys.get(panel.name):
                out.panels[panel.name] = panel.data(frame)
                new.keys[panel.name] = key
        return out

    def render(self, res: SyncResult, had_figure: bool, mode: str | None, r: Render) -> dict[str, Any]:
        """The outputs ``res`` changes (output name -> prop value; the others are absent), the
        notice aside. ``had_figure``: the tab already shows a map; ``mode``: its colour mode."""
        out: dict[str, Any] = {
            "map": latent_map.map_update(res, had_figure, mode),
            "overlay": latent_map.overlay_update(res, had_figure),
            # read by the ll-ack clientside callback: "more", input.js asks for the panels at once;
            # "ring", where ring.js places the selection ring when the map has no point arrays
            "view": res.client.to_dict() | {"more": res.more, "ring": res.ring},
            "ack": res.ack,
        }
        if res.colours is not UNCHANGED:
            out["colours"] = res.colours
        for panel in PANELS:
            if panel.name in res.panels:
                out.update(panel.render(res.panels[panel.name], r))
        v = self.src.cache.current
        if res.figure is not UNCHANGED and v is not None:
            out.update(
                model_version=v.version,
                badge="trained" if v.trained else "untrained",
                badge_colour="success" if v.trained else "warning",
                version_text=f"map v{v.version} · step {v.step}",
                untrained_open=not v.trained,
            )
        return out

    def live_key(self) -> str:
        """Changes whenever a sync without events (a poll) may answer a tab differently: the map
        version and its UMAP job, and every panel's key as a tab without a selection would hold it
        (the forecast's queue, every colour mode)."""
        src = self.src
        labels = src.label_reader.read()  # cached by the store's version; sets the error when the file is broken
        v = src.cache.current
        ps = src.projection.status()
        keys = []
        if v is not None:
            frame = Frame(src, v, labels, None, EXTERNAL, 0, "", "")
            keys = [panel.key(frame) for panel in PANELS]
        return repr((v.version if v is not None else None, ps["generation"], keys))

    def live(self, cursor: tuple[int, int] | None = None) -> dict[str, Any]:
        """The poll script's answer (app/assets/poll.js): ``{"key": live_key, "train": train_status}``,
        and with a tab's curve ``cursor`` (how many metrics rows and evaluations its curves hold)
        ``"curves"``: the points it lacks (:meth:`curve_update`)."""
        out = {"key": self.live_key(), "train": train_status(self.src.session)}
        if cursor is not None:
            out["curves"] = self.curve_update(*cursor)
        return out

    def curve_update(self, metrics_from: int, evals_from: int, limit: int = CURVE_LIMIT) -> dict[str, Any]:
        """The loss and accuracy curves' points after a tab's cursor, at most ``limit`` rows of each
        kind, as poll.js extends the graphs' lines: ``loss`` and ``acc`` (:func:`figures.curve_extension`),
        ``to`` (the cursor after them) and ``reset``: the tab holds more than this process has (the
        server restarted), so it must drop its points and take these, counted from zero."""
        h = self.src.session.history
        reset = metrics_from > len(h.metrics) or evals_from > len(h.evals)
        if reset:
            metrics_from = evals_from = 0
        pts, m1, e1 = self.src.session.curve_points(metrics_from, evals_from, limit)
        return {
            "reset": reset,
            "to": [m1, e1],
            "loss": figures.curve_extension(figures.LOSS_SERIES, pts),
            "acc": figures.curve_extension(figures.ACC_SERIES, pts),
        }
