"""What makes a run on many processes one run: rank 0 owns the run directory, evaluation sees each sample once.

Lightning starts the other processes of a run (``--devices 2 --strategy ddp`` re-launches the command) or
a launcher does (``torchrun``, SLURM's ``srun``: Lightning reads their environment). Each process runs the
whole command; only rank 0 creates the run directory, writes files and prints, and the others learn the
directory from it once the process group exists (:class:`ShareRunDir`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader

__all__ = ["ExactEvaluationData", "ShareRunDir", "is_rank_zero"]

_KEPT_SETTINGS = ("batch_size", "num_workers", "collate_fn", "pin_memory", "worker_init_fn", "persistent_workers")
"""What a split's loader keeps when it is rebuilt around a sampler that shares the split between processes."""


def is_rank_zero() -> bool:
    """Whether this process is rank 0 (the only one of a distributed run that writes and prints).

    Known before the process group exists: Lightning reads the launcher's environment (``RANK``,
    ``LOCAL_RANK``, ``SLURM_PROCID``) when it is imported, and sets it for the processes it starts.
    """
    return int(getattr(rank_zero_only, "rank", 0) or 0) == 0


class ShareRunDir(Callback):
    """Broadcast rank 0's run directory to every process when training or evaluation starts."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Take rank 0's run directory."""
        self.run_dir = Path(trainer.strategy.broadcast(str(self.run_dir), src=0))


class ExactEvaluationData(L.LightningDataModule):
    """A data module's validation and test batches, split across processes without repeating a sample.

    Lightning's default distributed sampler pads a split to a multiple of the process count by repeating
    samples, which shifts the metrics; here each process gets a disjoint share, and the metrics (summed
    states in torchmetrics) equal a single-process evaluation.
    """

    def __init__(self, datamodule: Any) -> None:
        super().__init__()
        self.datamodule = datamodule

    def setup(self, stage: str) -> None:
        """Set up the wrapped data module."""
        self.datamodule.setup(stage)

    def _unrepeated(self, loader: DataLoader) -> DataLoader:
        if not (self.trainer is not None and self.trainer.world_size > 1):
            return loader
        sampler = UnrepeatedDistributedSampler(
            loader.dataset, num_replicas=self.trainer.world_size, rank=self.trainer.global_rank, shuffle=False
        )
        return DataLoader(loader.dataset, sampler=sampler, **{name: getattr(loader, name) for name in _KEPT_SETTINGS})

    def val_dataloader(self) -> DataLoader:
        """The validation batches of this process."""
        return self._unrepeated(self.datamodule.val_dataloader())

    def test_dataloader(self) -> DataLoader:
        """The test batches of this process."""
        return self._unrepeated(self.datamodule.test_dataloader())
