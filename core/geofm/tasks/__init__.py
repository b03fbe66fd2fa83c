"""The Lightning modules of geofm's task types: segmentation, regression and classification.

They are registered through the ``geofm_tasks`` hook of core's built-in plugin, like any plugin's tasks.
Each exposes ``monitor`` / ``monitor_mode`` (the validation metric for early stopping and the best
checkpoint). Importing this package imports torch and Lightning.
"""

from __future__ import annotations

from geofm.tasks.base import BaseTask
from geofm.tasks.classification import ClassificationTask, MultiLabelClassificationTask
from geofm.tasks.regression import RegressionTask
from geofm.tasks.segmentation import SegmentationTask

__all__ = ["BaseTask", "ClassificationTask", "MultiLabelClassificationTask", "RegressionTask", "SegmentationTask"]
