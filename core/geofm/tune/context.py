"""What the backends of a study share: the study directory, the trial job, the space and the settings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from geofm.tune.settings import TuneSettings
from geofm.tune.space import SearchSpace
from geofm.tune.studydir import StudyDir
from geofm.tune.trial import TrialJob

__all__ = ["StudyContext"]

TRIAL_KEY = "_geofm_trial"
"""The key of a Ray trial's configuration that holds its Optuna trial number."""


@dataclass
class StudyContext:
    """One study being run: everything is resolved (metric, direction, name) and validated."""

    study_dir: StudyDir
    job: TrialJob
    space: SearchSpace
    settings: TuneSettings
    max_epochs: int
    started: float = field(default_factory=time.monotonic)

    @property
    def metric(self) -> str:
        """The validation metric the study optimises (``val/miou``)."""
        assert self.settings.metric is not None
        return self.settings.metric

    @property
    def direction(self) -> str:
        """``maximize`` or ``minimize``."""
        assert self.settings.direction is not None
        return self.settings.direction

    @property
    def study_name(self) -> str:
        """The Optuna study name (the study directory's name unless given)."""
        assert self.settings.name is not None
        return self.settings.name

    @property
    def storage_url(self) -> str:
        """``--storage``, or the SQLite file in the study directory."""
        return self.settings.storage or self.study_dir.default_storage()

    def time_left(self) -> float | None:
        """Seconds of ``--timeout`` left (``None``: no timeout)."""
        if self.settings.timeout is None:
            return None
        return self.settings.timeout - (time.monotonic() - self.started)
