"""The CLI's sub-commands: argparse and printing; each calls functions of engine/ (or app/ for `app`)."""
