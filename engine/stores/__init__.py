"""The files shared by the app and the CLI: labels (and accepted labels), checkpoints, feedback boxes.
Every write is atomic and locked (engine/io.py)."""
