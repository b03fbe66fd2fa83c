"""The Lightning modules of geofm's task types: segmentation, regression and classification.

They are registered through the ``geofm_tasks`` hook of core's built-in plugin, like any plugin's tasks.
Importing this package imports torch and Lightning.
"""

from __future__ import annotations

from geofm.tasks.base import BaseTask
from geofm.tasks.segmentation import SegmentationTask

__all__ = ["BaseTask", "SegmentationTask"]
