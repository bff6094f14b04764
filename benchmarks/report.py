"""Render docs/benchmarks.md from docs/benchmarks/*.json (the latest numbers of every benchmark)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "docs" / "benchmarks"

INTRO = """# Benchmarks

Speed is measured here, not in tests. Each benchmark compares its candidates side by side in one
run (alternating rounds, reported as a ratio) because these 2-core machines are noisy. Run them
all with `make bench` (or `.venv/bin/python benchmarks/run_all.py --only NAME`); each writes
`docs/benchmarks/<name>.json`, and this page is regenerated from those files by
`benchmarks/report.py`. The raw JSON holds every round and the machine it ran on.
"""


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and len(v) > 8:
        return f"[{len(v)} values]"
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


def _pct(v: dict | None, sd: bool = True) -> str:
    """A mean_sd/summarise dict of accuracies as 'mean% +- sd'."""
    if not v or v.get("mean") is None:
        return "-"
    out = f"{100 * v['mean']:.2f}%"
    return out + (f" +- {100 * v['sd']:.2f}" if sd and v.get("sd") not in (None, 0.0) else "")


def _lever(config: str) -> str:
    """The lever a config stands for: the first comment line of the YAML file."""
    path = ROOT / config
    if not path.is_file():
        return config
    first = path.read_text().splitlines()[0] if path.read_text() else ""
    return first.removeprefix("#").strip().removeprefix("Lever:").strip() or config


def accuracy_section() -> list[str]:
    """Test accuracy at 100 labels and the ablation of the levers on the validation split."""
    out = ["\n## Learning efficiency: accuracy at 10 labels per class (MNIST unless the file says otherwise)\n"]
    out.append(
        "Every figure is the mean over seeds of `benchmarks/bench_accuracy.py` runs (one subprocess per run, "
        "1 training thread), with the sample sd; `runs/<name>/` keeps each run's metrics.json. `s per run` is "
        "the wall time as measured: the lever runs and `accuracy-final-100` shared the 2 cores with up to six "
        "other jobs, so theirs are not speed figures (`docs/accuracy.md` has the run time on an idle machine).\n"
    )
    test_rows, val_rows = [], []
    for path in sorted(SRC.glob("accuracy-*.json")):
        data = json.loads(path.read_text())
        for arm in data.get("arms", {}).values():
            row = (path.name, data.get("command", ""), arm)
            (val_rows if "val_acc" in arm else test_rows).append(row)
    if test_rows:
        out += ["### Test split\n", "| config | backend | steps | test accuracy | per seed | s per run | JSON |"]
        out.append("|---|---|---|---|---|---|---|")
        for name, _, arm in test_rows:
            acc = arm["test_acc"]
            seeds = ", ".join(f"{100 * v:.2f}" for v in acc["values"])
            wall = ", ".join(f"{w:.0f}" for w in arm.get("wall_s", []))
            out.append(
                f"| {arm['config']} | {arm['backend']} | {arm['steps']} | {_pct(acc)} | {seeds} | {wall} | {name} |"
            )
    if val_rows:
        out += ["\n### Levers, scored on the validation split (5,000 held-out training images)\n"]
        base = next((a["val_acc"]["mean"] for _, _, a in val_rows if a["config"] == "configs/default.yaml"), None)
        out += ["| lever | config | seeds | validation accuracy | vs default | s per run | JSON |"]
        out.append("|---|---|---|---|---|---|---|")
        for name, _, arm in val_rows:
            acc = arm["val_acc"]
            delta = "" if base is None else f"{100 * (acc['mean'] - base):+.2f}"
            wall = ", ".join(f"{w:.0f}" for w in arm.get("wall_s", []))
            out.append(
                f"| {_lever(arm['config'])} | {arm['config']} | {acc['n']} | {_pct(acc)} | {delta} | {wall} | {name} |"
            )
    return out


def probes_section() -> list[str]:
    """The probe table of every accuracy arm that had tasks (docs/tasks.md): test metrics, mean +- sd."""
    out: list[str] = []
    for path in sorted(SRC.glob("accuracy-*.json")):
        data = json.loads(path.read_text())
        arms = {k: a for k, a in data.get("arms", {}).items() if a.get("probes")}
        if not arms:
            continue
        keys = list(dict.fromkeys(k for a in arms.values() for k in a["probes"]))
        out += [f"\n### Probes of `{path.name}` (test split, mean +- sd over seeds)\n"]
        out += ["| config | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for arm in arms.values():
            cells = []
            for k in keys:
                v = arm["probes"].get(k)
                cells.append(
                    "-" if not v else f"{v['mean']:.4g} +- {v['sd']:.2g}" if v.get("sd") else f"{v['mean']:.4g}"
                )
            out.append(f"| {arm['config']} | " + " | ".join(cells) + " |")
    return out


def active_learning_section() -> list[str]:
    """Labels needed per strategy from every committed `latentloop simulate` summary."""
    out = []
    for summary in sorted(SRC.glob("active-learning*/summary.json")):
        data = json.loads(summary.read_text())
        rel = summary.relative_to(ROOT)
        out += [f"\n## Active learning: {rel.parent.name}\n", f"From `{rel}` (curve: `{rel.parent}/curve.png`).\n"]
        out += ["| strategy | seeds | labels for 90% | labels for 95% | labels for 97% | final accuracy |"]
        out.append("|---|---|---|---|---|---|")
        for strat, v in data.items():
            cells = []
            for t in (90, 95, 97):
                c = v[f"labels_for_{t}"]
                if c["mean"] is None:
                    cells.append(f"never ({c['reached']})")
                else:
                    sd = f" +- {c['sd']:.0f}" if c["n"] > 1 else ""
                    cells.append(f"{c['mean']:.0f}{sd} ({c['reached']})")
            out.append(f"| {strat} | {len(v['seeds'])} | {' | '.join(cells)} | {_pct(v['final_acc'])} |")
    return out


def label_issues_section() -> list[str]:
    """Recall of planted label flips per ranker (label-issues.json)."""
    path = SRC / "label-issues.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    rankers = [
        r for r in ("neighbourhood", "tau_loo", "logreg_cv", "random") if r in next(iter(data["cases"].values()))
    ]
    out = [
        "\n## Label issues: planted flips found\n",
        f"From `docs/benchmarks/label-issues.json` (`{data['command']}`): {data['labels']} oracle labels, "
        f"{data['steps']} training steps on the noisy labels, seeds {data['seeds']}; recall at k = the number "
        "flipped (mean +- sd over the seeds), and for LatentLoop's ranker the precision and recall of the "
        "queue's suspicious set. See docs/label-issues.md.\n",
        "| flips | k | "
        + " | ".join(f"{r} recall@k" for r in rankers)
        + " | suspicious: precision / recall | test acc |",
        "|---" * (len(rankers) + 4) + "|",
    ]
    for case, e in data["cases"].items():
        cells = [_pct(e[r]["recall_at_k"]) for r in rankers]
        nb = e[rankers[0]]
        queue = f"{_pct(nb['suspicious_precision'], False)} / {_pct(nb['suspicious_recall'], False)}"
        out.append(f"| {case} | {e['flipped']} | {' | '.join(cells)} | {queue} | {_pct(e['test_acc'])} |")
    return out


def main() -> None:
    summary = (SRC / "summary.md").read_text(encoding="utf-8").rstrip() + "\n"
    parts = [
        INTRO,
        summary,
        *accuracy_section(),
        *probes_section(),
        *active_learning_section(),
        *label_issues_section(),
    ]
    for path in sorted(SRC.glob("*.json")):
        data = json.loads(path.read_text())
        parts.append(f"\n## {data.get('benchmark', path.stem)}\n")
        if data.get("what"):
            parts.append(f"{data['what']}\n")
        if data.get("command"):
            parts.append(f"Command: `{data['command']}`  \nMeasured: {data.get('machine', {}).get('time', '?')}\n")
        parts.append("\n| key | value |\n|---|---|")
        for k, v in data.items():
            if k in ("benchmark", "what", "command", "machine"):
                continue
            parts.append(f"| {k} | {_fmt(v)} |")
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(parts) + "\n")
    print(f"wrote {ROOT / 'docs' / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
