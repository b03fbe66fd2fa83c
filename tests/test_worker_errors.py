"""Errors raised in DataLoader worker processes come back with their own message (geofm.errors.unwrap_worker_error)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from geofm.errors import ConfigError, DataError, GeofmError, UnknownComponentError, unwrap_worker_error

MESSAGE = "bad chip x.tif: 3 bands but the dataset declares 6; check the files\nsecond line of the message"


class _BrokenDataset(Dataset):
    """Raises ``error_type(message)`` for every sample (module level, so spawn workers can unpickle it)."""

    def __init__(self, error_type: type[Exception], message: str) -> None:
        self.error_type, self.message = error_type, message

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> torch.Tensor:
        try:
            raise ValueError("inner cause: GDAL could not read block 3")
        except ValueError as cause:
            raise self.error_type(self.message) from cause


def _worker_error(error_type: type[Exception], message: str) -> BaseException:
    loader = DataLoader(_BrokenDataset(error_type, message), batch_size=1, num_workers=1)
    with pytest.raises(error_type) as info:
        next(iter(loader))
    return info.value


def test_a_data_error_from_a_worker_gets_its_own_message_back():
    wrapped = _worker_error(DataError, MESSAGE)
    assert str(wrapped).startswith("Caught DataError in DataLoader worker process 0.")  # what torch does
    unwrapped = unwrap_worker_error(wrapped)
    assert type(unwrapped) is DataError
    assert str(unwrapped) == MESSAGE
    assert unwrapped.__cause__ is wrapped and unwrapped.__suppress_context__


def test_a_subclass_with_a_custom_str_is_unwrapped_too():
    wrapped = _worker_error(UnknownComponentError, "unknown dataset 'x'. List them with: geofm datasets list")
    unwrapped = unwrap_worker_error(wrapped)
    assert type(unwrapped) is UnknownComponentError
    assert str(unwrapped) == "unknown dataset 'x'. List them with: geofm datasets list"


def test_errors_that_are_not_worker_copies_are_returned_unchanged():
    plain = DataError("bad chip x.tif: unreadable")
    assert unwrap_worker_error(plain) is plain
    lookalike = ConfigError("Caught DataError somewhere, but this is not torch's wrapper")
    assert unwrap_worker_error(lookalike) is lookalike
    foreign = ValueError(
        "Caught ValueError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
    )
    assert unwrap_worker_error(foreign) is foreign  # only geofm errors are unwrapped
    header_only = DataError(
        "Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
    )
    assert unwrap_worker_error(header_only) is header_only  # no final exception line to take the message from


def test_a_worker_error_of_a_foreign_type_stays_as_torch_made_it():
    wrapped = _worker_error(RuntimeError, "not ours")
    assert unwrap_worker_error(wrapped) is wrapped
    assert not isinstance(wrapped, GeofmError)
