"""Hyper-parameter search over runs: ``geofm tune`` and :func:`geofm.tune`.

Every trial is an ordinary run (:func:`geofm.runner.run`) whose directory lies in the study directory;
Optuna proposes, prunes and stores the trials (in this process, or through Ray Tune's ``OptunaSearch``
across processes and machines). One concern per module:

- :mod:`geofm.tune.space`: the search space, parsed and checked against the run schema and registries;
- :mod:`geofm.tune.settings`: the tuning settings and the ``tune.yaml`` file;
- :mod:`geofm.tune.studydir`: the study directory's files;
- :mod:`geofm.tune.context`: what the backends of a running study share;
- :mod:`geofm.tune.trial`: one trial as a quiet run, its value, its log;
- :mod:`geofm.tune.capture`: sending a trial's console output to its log;
- :mod:`geofm.tune.pruning`: the Lightning callback reporting each epoch's metric;
- :mod:`geofm.tune.optuna_backend` / :mod:`geofm.tune.ray_backend`: running the trials;
- :mod:`geofm.tune.progress`: the live progress of a study on the console (and MLflow);
- :mod:`geofm.tune.report`: ``trials.csv``, ``best.yaml``, ``summary.json`` and ``plots/``;
- :mod:`geofm.tune.repeats`: the best configuration trained again with several seeds;
- :mod:`geofm.tune.study`: a study from start (or resume) to summary.

Importing this package is light (no torch, Optuna or Ray): ``import geofm`` loads it. Its modules are
imported with ``from geofm.tune.<module> import ...``, since ``geofm.tune`` itself is the function
:func:`geofm.api.tune`.
"""

from __future__ import annotations

__all__: list[str] = []
