"""Class names in the page, below the browser (issue 24): a dataset with classes.json of 2, 10 and 37
classes shows its names wherever a class appears (the sample panel, the label buttons, the queue,
the label-issue reasons, the XAI menu, the tau columns, the map's legend and the page's scripts'
list); one without classes.json shows "0".."9" as it always did. Names are escaped and shortened."""

from __future__ import annotations

import json
from html import escape

import pytest

from app.classnames import FEW_BUTTONS, short
from app.colours import palette
from app.layouts.explain import xai_targets
from app.layouts.latent_map import class_legend
from app.layouts.page import build_layout
from app.layouts.queue import queue_list
from app.layouts.sample import label_buttons, sample_panel
from app.mixture_figures import tau_figure
from app.presenter import views
from app.server import layout_context
from app.services.candidates import Candidate
from app.services.label_issues import SUSPICIOUS
from app.testing import app_state, colour_dataset, plant_label_issues
from app.viewmodels import QueueView
from engine.datasets import dataset_path, save_dataset
from engine.datasets.classes import classes_path, write_class_names
from tests.helpers import tiny_config_dict

SIDE = 12
ANIMALS = ["cat", "dog", "cow", "hen", "pig", "ram", "yak", "eel", "owl", "fox"]


def names_of(k: int) -> list[str]:
    """``k`` distinct names; the 37-class set has a long one and one with markup characters."""
    base = [f"{a}-{i}" if i else a for i in range(4) for a in ANIMALS][:k]
    if k > 20:
        base[12] = "a very long class name indeed"
        base[13] = "<b>&amp;"
    return base


def flat(component: object) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda o: o.to_plotly_json())  # type: ignore[attr-defined]


def make_state(home, k: int, named: bool):  # type: ignore[no-untyped-def]
    from engine.config import from_dict

    name = f"named{k}" if named else f"plain{k}"
    ds = colour_dataset(4 * k + 40, 20, SIDE, SIDE, classes=k, name=name)
    save_dataset(ds, dataset_path(name, home / "data"))
    if named:
        write_class_names(classes_path(name, home / "data"), names_of(k))
    d = tiny_config_dict()
    d["data"] = {"name": name}
    d["model"].update(image_shape=[SIDE, SIDE, 3], num_classes=k, components=max(k, 4))
    return app_state(home, ds.n_train, 20, from_dict(d), dataset=ds, workers=False)


@pytest.mark.parametrize(("k", "named"), [(2, True), (10, True), (37, True), (10, False)])
def test_the_page_shows_the_class_names(tmp_path, k, named):
    names = names_of(k) if named else [str(c) for c in range(k)]
    with make_state(tmp_path, k, named) as st:
        assert st.class_names == names
        planted = plant_label_issues(st, per_class=3, flips=2)
        v = st.cache.current
        labels = st.label_reader.read()
        serial = next(iter(planted["flipped"]))

        sv = views.sample_view(st, serial, v, labels)
        assert sv.names == names and sv.num_classes == k
        panel = flat(sample_panel(sv))
        assert json.dumps(short(names[sv.label])) in panel  # the label, by name
        assert all(json.dumps(short(names[c])) in panel for c, _ in sv.top)  # the probability table
        buttons = len(names) if k <= FEW_BUTTONS else 10
        assert panel.count("ll-label-btn") == buttons
        assert f"label as {names[1]} (key 1)" in panel

        # the suspicious labels' reasons and the queue's predictions, by name
        qv = views.queue_view(st, SUSPICIOUS, v, labels)
        assert qv.items and qv.names == names
        given = planted["given"][qv.items[0].serial]
        assert qv.items[0].why.startswith(f"labelled {names[given]}; model says {names[qv.items[0].predicted]}")
        entropy = views.queue_view(st, "entropy", v, labels)
        c = entropy.items[0]
        markup = queue_list(entropy).children
        assert f'title="{escape(names[c.predicted])}">{escape(short(names[c.predicted]))}</span>' in markup
        assert c.runner_up >= 0 and f'vs <span class="ll-q-name" title="{escape(names[c.runner_up])}"' in markup

        ctx = layout_context(st)
        assert ctx.class_names == names
        page = flat(build_layout(ctx))
        assert json.dumps(json.dumps(names))[1:-1] in page  # ll-classes: the scripts' list
        assert all(json.dumps(f"class {n}") in page for n in names)  # the XAI target menu

        brief = views.sample_brief(st, serial, v, labels)
        assert brief["reason"].startswith(f"labelled {names[planted['given'][serial]]};")


def test_mnist_without_classes_json_looks_as_before():
    names = [str(c) for c in range(10)]
    buttons = label_buttons(names, 3)
    assert [b.children for b in buttons.children] == names
    assert buttons.children[3].className == "btn btn-sm ll-label-btn active"
    assert buttons.children[7].to_plotly_json()["props"]["title"] == "label as 7 (key 7)"
    assert [o["label"] for o in xai_targets(names)][2:] == [f"class {c}" for c in range(10)]
    assert [o["value"] for o in xai_targets(names, has_truth=False)][:2] == ["pred", "0"]  # no "true" without truth
    q = queue_list(QueueView([Candidate(5, 0.9, 3, 0.52, runner_up=8)], "", "entropy", names)).children
    assert 'pred <span class="ll-q-name" title="3">3</span>' in q and '0.52 vs <span class="ll-q-name" title="8">8' in q


def test_many_classes_get_ten_keyed_buttons_and_the_picker():
    names = names_of(37)
    buttons = label_buttons(names, 20).children
    assert len(buttons) == 11 and "ll-picker-btn" in buttons[-1].className and "37 classes" in buttons[-1].children
    assert [b.children for b in buttons[:10]] == [short(n) for n in names[:10]]
    assert all("(key" not in b.title for b in label_buttons(names_of(20), None).children[10:])  # no key beyond 9
    assert len(label_buttons(names_of(20), None).children) == 20  # up to 20: a button each, no picker


def test_long_names_are_shortened_with_the_full_name_as_title():
    long = "a very long class name indeed"
    assert short(long) == "a very long c…" and len(short(long)) == 14 and short("cat") == "cat"
    legend = class_legend(["cat", long]).children
    assert legend[1].title == f"class 1: {long}" and legend[1].children[1] == short(long)
    assert legend[0].children[0].style == {"background": palette(2)[0]}


def test_names_are_escaped_in_the_queue_markup():
    names = ["<b>&amp;", 'x"y']
    q = queue_list(QueueView([Candidate(5, 0.9, 0, 0.6, why="why <i>", runner_up=1)], "", "entropy", names)).children
    assert "<b>" not in q and "&lt;b&gt;&amp;amp;" in q and "x&quot;y" in q and "why &lt;i&gt;" in q


def test_the_tau_columns_carry_the_names():
    import numpy as np

    from engine.analysis.mixture import ComponentStats

    names = names_of(37)
    fields = ComponentStats.__dataclass_fields__
    stats = [ComponentStats(**{f: 0 if f != "component" else i for f in fields}) for i in range(3)]
    fig = tau_figure(np.full((3, 37), 1 / 37), stats, names)
    x = fig["data"][0]["x"]
    assert x[0] == "cat" and x[12] == short(names[12], 10) and len(set(x)) == 37
    assert fig["data"][0]["customdata"][0][12][1] == names[12]  # the hover: the full name
    assert tau_figure(np.full((3, 10), 0.1), stats)["data"][0]["x"] == [str(c) for c in range(10)]


def test_the_help_names_the_picker_key_and_an_unknown_true_class_says_so():
    from app.classnames import PICKER_KEY
    from app.layouts.page import SHORTCUTS
    from app.viewmodels import SampleView

    assert any(k == PICKER_KEY == "l" and "class" in what for k, what in SHORTCUTS)
    sv = SampleView(3, "train", "data:,", None, [(1, 0.6), (0, 0.4)], None, -1, 1, 0.6, ["cat", "dog"])
    panel = flat(sample_panel(sv))
    assert '"unknown"' in panel and '"dog"' in panel  # no ground truth (label -1), the prediction by name


def test_the_forecast_worker_is_given_the_names(tmp_path):
    """Its reasons name the classes ("unsure between cat and dog"; tests/workers/test_forecast.py)."""
    from app.services.workers import FORECAST, WorkerHub

    hub = WorkerHub(tmp_path, "named", "", tmp_path, tmp_path / "f.npz", class_names=["cat", "dog"])
    assert hub.supervisor._workers[FORECAST].kwargs["names"] == ["cat", "dog"]


def test_the_label_count_bars_carry_the_names_escaped():
    from app.layouts.stats import class_bars

    html_text = str(class_bars([3, 1], ["cat", "<b>very long name</b>"]).to_plotly_json())
    assert 'title="cat: 3 labels"' in html_text and ">cat</div>" in html_text
    assert "&lt;b&gt;very long name&lt;/b&gt;: 1 labels" in html_text and "<b>" not in html_text
    assert ">&lt;b&gt;ve…</div>" in html_text  # cut to 6 characters under the narrow bar
