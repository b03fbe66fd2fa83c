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
    metric: str = field(init=False)
    """The validation metric the study optimises (``val/miou``)."""
    direction: str = field(init=False)
    """``maximize`` or ``minimize``."""
    study_name: str = field(init=False)
    """The Optuna study name (the study directory's name unless given)."""

    def __post_init__(self) -> None:
        """Take the metric, direction and study name from the settings, which must have resolved them."""
        metric, direction, name = self.settings.metric, self.settings.direction, self.settings.name
        if metric is None or direction is None or name is None:
            raise ValueError("a study context needs settings with metric, direction and name resolved")
        self.metric, self.direction, self.study_name = metric, direction, name

    @property
    def storage_url(self) -> str:
        """``--storage``, or the SQLite file in the study directory."""
        return self.settings.storage or self.study_dir.default_storage()

    def time_left(self) -> float | None:
        """Seconds of ``--timeout`` left (``None``: no timeout)."""
        if self.settings.timeout is None:
            return None
        return self.settings.timeout - (time.monotonic() - self.started)
