"""Run directories and what is built from them: the files an experiment writes, its REPORT.md and
figures, learning curves."""
