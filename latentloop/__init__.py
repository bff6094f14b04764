"""The ``latentloop`` command line: the one package above both the engine and the dashboard.

It registers the engine's commands (:mod:`engine.commands`) and the dashboard's ``app`` command
(:mod:`app.command`), so neither of those packages has to import the other.
"""
