"""Full fine-tuning vs LoRA of prithvi_eo_v2_300 (random init) + UPerNet: peak memory and step time; prints JSON.

One invocation measures both modes side by side, each in a fresh interpreter (run one after the other,
never at once), so that each one's peak memory is its own: on CPU the peak resident set
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``; tracemalloc does not see torch's allocations) and the
resident set once the model is built, before the first step; on CUDA ``torch.cuda.max_memory_allocated``
over the training steps. The model is built as a run builds it (:func:`geofm.run_model.build_run_model`),
the LoRA one from ``backbone.lora.rank`` (what ``geofm run --lora RANK`` sets). A step is forward, cross
entropy, backward and an AdamW step over the trainable parameters (its state is part of the memory).
The step time is the median of the timed steps, after untimed warm-up steps. Usage::

    python bench/lora.py [--device cuda] [--rank 8] [--batch-size 2] [--img-size 224] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

MODES = ("full", "lora")
BANDS = ["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"]


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--backbone", default="prithvi_eo_v2_300")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank (geofm run --lora RANK)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20 on CUDA, 3 on CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 5 on CUDA, 1 on CPU)")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    return parser.parse_args()


def _rss_mib() -> float:
    """Peak resident set of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    """One mode, in this process: build, warm up, time the steps, read the peak memory."""
    import torch
    import torch.nn.functional as F

    from geofm.config import validate_config
    from geofm.run_model import build_run_model

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    steps = args.steps or (20 if cuda else 3)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    backbone: dict[str, Any] = {"name": args.backbone, "weights": "none", "img_size": args.img_size}
    if args.child == "lora":
        backbone["lora"] = {"rank": args.rank}
    config = validate_config(
        {
            "backbone": backbone,
            "decoder": {"name": "upernet"},
            "dataset": {"bands": BANDS},
            "task": {"name": "segmentation", "num_outputs": 2},
        }
    )
    torch.manual_seed(0)
    model = build_run_model(config).to(device).train()
    rss_built = _rss_mib()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    image = torch.randn(args.batch_size, len(BANDS), args.img_size, args.img_size, device=device)
    mask = torch.randint(0, 2, (args.batch_size, args.img_size, args.img_size), device=device)

    def step() -> None:
        loss = F.cross_entropy(model(image), mask)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    backbone_params = list(model.backbone.parameters())
    result: dict[str, Any] = {
        "mode": args.child,
        "params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in trainable),
        "backbone_params": sum(p.numel() for p in backbone_params),
        "backbone_trainable_params": sum(p.numel() for p in backbone_params if p.requires_grad),
        "step_seconds_median": round(statistics.median(times), 4),
        "step_seconds": [round(t, 4) for t in times],
    }
    if cuda:
        result["peak_memory_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        result["memory_measure"] = "torch.cuda.max_memory_allocated over the timed steps"
    else:
        result["peak_memory_mib"] = round(_rss_mib(), 1)
        result["rss_after_build_mib"] = round(rss_built, 1)
        result["memory_measure"] = "peak RSS of the process (ru_maxrss)"
    return result


def _child_command(args: argparse.Namespace, mode: str) -> list[str]:
    command = [sys.executable, __file__, "--child", mode, "--device", args.device, "--backbone", args.backbone]
    command += ["--rank", str(args.rank), "--batch-size", str(args.batch_size), "--img-size", str(args.img_size)]
    if args.steps is not None:
        command += ["--steps", str(args.steps)]
    if args.warmup is not None:
        command += ["--warmup", str(args.warmup)]
    return command


def main() -> dict[str, Any]:
    args = _args()
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.child:
        return _measure(args)
    modes: dict[str, dict[str, Any]] = {}
    for mode in MODES:  # one after the other: each has the machine to itself
        done = subprocess.run(_child_command(args, mode), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"the {mode} measurement failed:\n{done.stderr[-4000:]}")
        modes[mode] = json.loads(done.stdout)
    full, lora = modes["full"], modes["lora"]
    import torch

    device = torch.cuda.get_device_name(0) if args.device == "cuda" else platform.processor() or platform.machine()
    return {
        "benchmark": "lora",
        "model": f"{args.backbone} (random init) + upernet",
        "device": device,
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "bands": len(BANDS),
        "img_size": args.img_size,
        "rank": args.rank,
        "full": full,
        "lora": lora,
        "ratios": {
            "peak_memory_lora_over_full": round(lora["peak_memory_mib"] / full["peak_memory_mib"], 3),
            "step_time_lora_over_full": round(lora["step_seconds_median"] / full["step_seconds_median"], 3),
            "trainable_lora_over_full": round(lora["trainable_params"] / full["trainable_params"], 4),
            "backbone_trainable_fraction_lora": round(lora["backbone_trainable_params"] / lora["backbone_params"], 4),
        },
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
