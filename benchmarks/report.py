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


def main() -> None:
    parts = [INTRO]
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
