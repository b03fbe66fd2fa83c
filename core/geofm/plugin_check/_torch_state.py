"""Which process-wide torch settings importing a module changes; run in a fresh interpreter.

:func:`import_changes` imports torch, records its global state, then imports each module in turn and
says what each import changed.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["STATE_NAMES", "import_changes", "torch_state", "torch_state_kept"]

STATE_NAMES = {
    "default_dtype": "the default dtype",
    "matmul_precision": "float32 matmul precision",
    "num_threads": "the number of CPU threads",
    "deterministic": "deterministic algorithms",
    "grad_enabled": "grad mode",
    "cudnn_benchmark": "torch.backends.cudnn.benchmark",
    "cuda_matmul_tf32": "torch.backends.cuda.matmul.allow_tf32",
    "cudnn_tf32": "torch.backends.cudnn.allow_tf32",
    "rng": "the global random number generator state",
}
"""The recorded settings and how a message names them."""


def torch_state() -> dict[str, Any]:
    """The process-wide torch settings a library has no business changing at import."""
    import torch

    return {
        "default_dtype": str(torch.get_default_dtype()).removeprefix("torch."),
        "matmul_precision": torch.get_float32_matmul_precision(),
        "num_threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "grad_enabled": torch.is_grad_enabled(),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cuda_matmul_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_tf32": bool(torch.backends.cudnn.allow_tf32),
        "rng": hashlib.sha256(torch.random.get_rng_state().numpy().tobytes()).hexdigest()[:16],
    }


def import_changes(modules: list[str]) -> list[dict[str, Any]]:
    """Import each of ``modules`` in order; per module, the settings its import changed (``[name, old, new]``).

    A module that fails to import is reported with its ``error`` (what it changed before failing counts too).
    """
    results = []
    before = torch_state()
    for module in modules:
        error = ""
        try:
            importlib.import_module(module)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        after = torch_state()
        changed = [[key, before[key], after[key]] for key in before if before[key] != after[key]]
        results.append({"module": module, "changes": changed, "error": error})
        before = after
    return results


@contextmanager
def torch_state_kept() -> Iterator[None]:
    """Put every setting :func:`torch_state` records, and the RNG state itself, back as they were after the block.

    The plugin's modules are imported and its components built in the checking process; whatever they
    change stays inside the check.
    """
    import torch

    dtype, precision = torch.get_default_dtype(), torch.get_float32_matmul_precision()
    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    deterministic, warn_only = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    benchmark, cuda_tf32, cudnn_tf32 = (
        torch.backends.cudnn.benchmark,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    rng = torch.random.get_rng_state()
    try:
        yield
    finally:
        torch.set_default_dtype(dtype)
        torch.set_float32_matmul_precision(precision)
        torch.set_num_threads(threads)
        torch.set_grad_enabled(grad)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark
        torch.backends.cuda.matmul.allow_tf32 = cuda_tf32
        torch.backends.cudnn.allow_tf32 = cudnn_tf32
        torch.random.set_rng_state(rng)
