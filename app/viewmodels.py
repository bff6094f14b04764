"""The plain data the services hand to the page (no Dash): what a tab holds, what one sync answers,
and the views of a sample, the label statistics and the candidate queue.

The presenter (app/presenter/) turns these into component props with the card modules of app/layouts/.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.services.candidates import Candidate
from engine.analysis.label_issues import LabelIssue

if TYPE_CHECKING:  # annotations only
    from app.services.holdout import HoldoutView
    from app.services.probes import ProbesView

UNCHANGED: Any = object()  # "the tab already has this": callbacks turn it into no_update


@dataclass
class ClientView:
    """What a tab holds; echoed back by the tab with every sync (a dcc.Store). ``keys``: panel name
    -> the change key of what the tab shows (app/presenter/panels.py), stored as ``<name>_key``."""

    version: int | None = None
    gen: int | None = None
    rev: int | None = None
    highlight_key: str = ""  # the overlay's component highlight (the Model page's choice)
    keys: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ClientView:
        """The tab's echo; unknown entries (an older page) are dropped, a non-dict is an empty view."""
        if not isinstance(d, dict):
            return cls()
        view = cls(**{k: d[k] for k in ("version", "gen", "rev", "highlight_key") if k in d})
        view.keys = {
            k[: -len("_key")]: v
            for k, v in d.items()
            if k.endswith("_key") and k != "highlight_key" and isinstance(v, str)
        }
        return view

    def to_dict(self) -> dict[str, Any]:
        plain = {"version": self.version, "gen": self.gen, "rev": self.rev, "highlight_key": self.highlight_key}
        return plain | {f"{name}_key": key for name, key in self.keys.items()}

    def copy(self) -> ClientView:
        return dataclasses.replace(self, keys=dict(self.keys))


@dataclass
class SampleView:
    serial: int
    split: str  # "train" | "test"
    image: str  # PNG data URI
    recon: str | None
    top: list[tuple[int, float]]  # top-3 (class, probability)
    label: int | None
    true: int | None  # None: the dataset does not know this sample's class (unknown targets)
    predicted: int
    certainty: float
    names: list[str]  # the dataset's class names (app/classnames.py)
    issue: LabelIssue | None = None  # a labelled sample's given-vs-suggested (label-issue ranking)

    @property
    def num_classes(self) -> int:
        return len(self.names)


@dataclass
class StatsView:
    per_class: list[int]
    labelled: int
    unlabelled: int
    test_acc: float | None
    test_acc_step: int | None
    cli_added: int
    error: str = ""
    accuracy: str = ""  # engine.reports.accuracy.describe_accuracy: the number with its split and count
    split: str = "test"  # which split the accuracy is on ("test", "validation", "held-out")
    holdout: HoldoutView | None = None  # the held-out labels of a dataset without test truth
    names: list[str] = field(default_factory=list)  # the class names ("0".. where empty)


@dataclass
class QueueView:
    items: list[Candidate]
    source: str
    strategy: str
    names: list[str] = field(default_factory=list)  # the class names ("0".. where empty)


@dataclass
class SyncResult:
    """Answer to one sync: every field is UNCHANGED unless the tab needs it."""

    client: ClientView
    ack: int
    figure: Any = UNCHANGED  # the big map figure (new embedding version)
    colours: Any = UNCHANGED  # per-version colour arrays (with a new figure)
    overlay_figure: Any = UNCHANGED  # the small overlay figure (new embedding version)
    overlay_full: Any = UNCHANGED  # dict: the whole overlay trace
    overlay_slots: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    ring: tuple[float, float] | None = None  # the tab's selection on the map (ring.js LL.setServerRing)
    highlight: Any = UNCHANGED  # the overlay's component-highlight trace (Model page tau click)
    notices: list[str] = field(default_factory=list)
    panels: dict[str, Any] = field(default_factory=dict)  # panel name -> its data, for the panels that changed
    more: bool = False  # a lean answer to a label change: the panels follow in the tab's next sync

    def panel(self, name: str) -> Any:
        """The data of panel ``name`` (app/presenter/panels.py), UNCHANGED when the tab has it."""
        return self.panels.get(name, UNCHANGED)


@dataclass(frozen=True)
class RunRow:
    """One run directory of the Runs page (app/services/runs.py); ``error`` names what could not be read."""

    id: str  # "<kind dir>/<run dir>", e.g. "experiments/base-20260101-120000"
    name: str
    kind: str  # "experiment" | "simulate"
    date: str  # "YYYY-MM-DD HH:MM:SS"
    labels: int | None
    accuracy: float | None
    accuracy_of: str  # which accuracy: "test", "validation", "test, best of entropy/random", ...
    backend: str | None
    steps: int | None
    path: str
    error: str = ""


@dataclass(frozen=True)
class RunView:
    """A run opened on the Runs page: its plots (PNG data URIs), config, flattened metrics and report."""

    row: RunRow
    plots: list[tuple[str, str]]  # (file name relative to the run, data URI)
    config: str  # JSON text, "" when the run recorded none
    metrics: list[tuple[str, str]]  # (dotted key, value)
    report: str  # REPORT.md with its image links replaced by their file names ("" without one)
    checkpoint: str | None  # the run's checkpoint name (``fork`` copies it), None without one
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunSeries:
    """One line of the Runs page's compare chart."""

    name: str
    x: list[float]
    y: list[float]


@dataclass(frozen=True)
class PageContext:
    """What the layout needs when a tab opens (AppState.page_context reads it; the layout does no I/O)."""

    live: dict[str, Any]  # LabelPage.live()'s answer: the poll script's starting key and run status
    dataset: str
    n_points: int
    n_train: int
    num_classes: int
    class_names: list[str]  # the dataset's (app/classnames.py)
    image_shape: tuple[int, int, int]  # the data set's (height, width, channels): how images are shown
    checkpoint: str  # the one Save writes
    trained: bool  # the map shows a trained model
    has_checkpoint: bool
    version: int  # map version
    step: int
    log_id: int  # the label log's position: CLI labels after it are counted
    status: dict[str, Any]  # TrainingSession.status()
    settings: dict[str, Any]  # the training panel's defaults
    strategies: list[dict[str, str]]  # the queue menu
    checkpoints: list[dict[str, Any]]
    label_poll_ms: int
    train_poll_ms: int
    curve_ms: int
    backend: str
    history: dict[str, tuple[list[int], list[float]]]  # the curves so far
    projection: str  # "pca" | "umap"
    probes: ProbesView
    probe_options: list[dict[str, str]]
    curriculum: dict[str, int]  # warmup_steps, anneal_steps
    run_metrics: list[dict[str, str]]  # the Runs page's compare menu
    auto_advance: bool = False  # a label selects the next candidate (app/services/page_prefs.py)
    holdout_fraction: float | None = None  # the held-out fraction; None: the dataset is scored on its test split
    acc_split: str = "test"  # what the accuracy is scored on (Trainer.eval_rows: test, validation, held-out)
    has_truth: bool = True  # every sample's true class is known (else the True class mode is hidden)
