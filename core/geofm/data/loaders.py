"""The loader methods of a data module, written once: each split's loader comes from one method.

A data module that mixes in :class:`SplitLoaders` (before ``LightningDataModule``) defines
``split_loader(split)`` and gets ``train_dataloader``, ``val_dataloader`` and ``test_dataloader``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

__all__ = ["SplitLoaders"]


class SplitLoaders:
    """``train_dataloader``, ``val_dataloader`` and ``test_dataloader`` of a data module, by ``split_loader``.

    ``class MyData(SplitLoaders, L.LightningDataModule)`` defines :meth:`split_loader`; shuffling the
    training split (and seeding it) is up to that method. A split the data lacks should raise there,
    with a message that names the split.
    """

    def split_loader(self, split: str) -> DataLoader:
        """The loader of ``split`` (``"train"``, ``"val"`` or ``"test"``)."""
        raise NotImplementedError(f"{type(self).__name__} mixes in SplitLoaders but defines no split_loader")

    def train_dataloader(self) -> DataLoader:
        """The training batches: ``split_loader("train")``."""
        return self.split_loader("train")

    def val_dataloader(self) -> DataLoader:
        """The validation batches: ``split_loader("val")``."""
        return self.split_loader("val")

    def test_dataloader(self) -> DataLoader:
        """The test batches: ``split_loader("test")``."""
        return self.split_loader("test")
