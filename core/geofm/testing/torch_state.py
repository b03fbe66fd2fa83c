"""Checking that importing a plugin's model modules leaves torch's global settings as they were."""

from __future__ import annotations

import subprocess
import sys

__all__ = ["import_changes_torch_state"]

_STATE = (
    "torch.get_default_dtype(), torch.get_float32_matmul_precision(), torch.get_num_threads(), "
    "torch.are_deterministic_algorithms_enabled(), torch.is_grad_enabled(), torch.backends.cudnn.benchmark, "
    "torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.initial_seed()"
)


def import_changes_torch_state(*modules: str) -> str:
    """Import ``modules`` in a fresh interpreter after torch; ``""`` when torch's global state is unchanged.

    The state compared: default dtype, float32 matmul precision, thread count, deterministic algorithms,
    grad mode, cuDNN benchmark, TF32 flags and the initial seed. Otherwise the answer describes the change
    (or the import error).
    """
    code = (
        "import torch\n"
        f"before = ({_STATE})\n"
        f"import {', '.join(modules)}\n"
        f"after = ({_STATE})\n"
        "print('' if before == after else f'{before} -> {after}')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if result.returncode:
        return f"importing {', '.join(modules)} failed: {result.stderr.strip()}"
    return result.stdout.strip()
