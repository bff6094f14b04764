"""The ``latentloop`` command line: the one package above both the engine and the dashboard.

Its sub-commands (:mod:`latentloop.commands`, argparse and printing) call the engine's functions and,
for ``latentloop app``, the dashboard's launcher (app/launch.py).
"""
