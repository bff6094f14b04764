"""The forecast worker: which unlabelled samples are likely to be *wrong at the next refresh*.

docs/architecture.md sections 2 and 6. At every embedding refresh the dashboard writes the class
probabilities of all samples (plus labels, the tau route's hard prediction and the latent means) to
one ``.npz`` with :func:`write_forecast_arrays` and sends a :class:`ForecastInput` naming it. The
child process (:func:`forecast_main`, CPU only, niced, numpy only) keeps a short per-sample history
in a :class:`Forecaster`, scores every sample's risk, and answers with a :class:`ForecastResult`:
the top-k unlabelled samples with a one-line reason each, and whether the *review window* is open
(every gate passes) or which gate holds it closed. Details and measurements: ``docs/forecast.md``.

Modules: ``messages`` (input, result, error), ``arrays`` (the refresh's ``.npz``), ``model`` (the
:class:`Forecaster`, pure numpy, runs in-process too: tests, benchmark), ``process`` (the child's
entry point). Every public name is re-exported here.
"""

from __future__ import annotations

from engine.events import to_dict
from workers.forecast.arrays import ARRAYS_FORMAT, load_forecast_arrays, write_forecast_arrays
from workers.forecast.messages import ForecastError, ForecastInput, ForecastResult, from_dict
from workers.forecast.model import (
    FEATURES,
    FIT_FEATURES,
    RISK_CALIBRATION,
    RISK_WEIGHTS,
    Forecaster,
    GateConfig,
    nearest_labelled,
)
from workers.forecast.process import forecast_main

__all__ = [
    "ARRAYS_FORMAT",
    "FEATURES",
    "FIT_FEATURES",
    "RISK_CALIBRATION",
    "RISK_WEIGHTS",
    "ForecastError",
    "ForecastInput",
    "ForecastResult",
    "Forecaster",
    "GateConfig",
    "forecast_main",
    "from_dict",
    "load_forecast_arrays",
    "nearest_labelled",
    "to_dict",
    "write_forecast_arrays",
]
