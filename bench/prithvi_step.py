"""Forward + backward time of prithvi_eo_v2_300 + UPerNet at 224 px; prints one JSON object.

CPU (default here): batch 2 in float32. On a CUDA device: batch 16 in bf16 autocast, with the model FLOP
utilisation (model FLOPs per step, counted by ``torch.utils.flop_counter``, over the step time and the
device's dense bf16 peak). Usage::

    python bench/prithvi_step.py [--device cuda] [--batch-size 16] [--steps 20] [--compile]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import geofm

# Dense bf16 tensor-core peaks (FLOP/s), by a substring of the device name.
PEAK_BF16 = {"H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 70e12}


def _peak(name: str) -> float | None:
    for key, value in PEAK_BF16.items():
        if key in name:
            return value
    return None


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="default 16 on CUDA, 2 on CPU")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20 on CUDA, 3 on CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 5 on CUDA, 1 on CPU)")
    parser.add_argument("--backbone", default="prithvi_eo_v2_300")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--grad-checkpointing", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the device's bf16 peak")
    return parser.parse_args()


def main() -> dict[str, Any]:
    args = _args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch_size or (16 if cuda else 2)
    steps = args.steps or (20 if cuda else 3)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    dtype = torch.bfloat16 if cuda else torch.float32
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    model = geofm.build_model(
        args.backbone,
        "upernet",
        num_classes=2,
        weights="none",
        img_size=args.img_size,
        num_frames=1,
        backbone_options={"grad_checkpointing": args.grad_checkpointing},
    ).to(device)
    model.train()
    params = sum(p.numel() for p in model.parameters())
    image = torch.randn(batch, 6, args.img_size, args.img_size, device=device)
    mask = torch.randint(0, 2, (batch, args.img_size, args.img_size), device=device)
    step_model = torch.compile(model) if args.compile else model

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=cuda):
            logits = step_model(image)
            loss = F.cross_entropy(logits.float(), mask)
        loss.backward()
        for p in model.parameters():
            p.grad = None

    with FlopCounterMode(display=False) as counter:
        with torch.autocast(device.type, dtype=dtype, enabled=cuda):
            loss = F.cross_entropy(model(image).float(), mask)
        loss.backward()
    flops = counter.get_total_flops()
    model.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps

    name = torch.cuda.get_device_name(device) if cuda else platform.processor() or platform.machine()
    peak = args.peak_tflops * 1e12 if args.peak_tflops else (_peak(name) if cuda else None)
    result: dict[str, Any] = {
        "benchmark": "prithvi_step",
        "model": f"{args.backbone} + upernet",
        "device": name,
        "threads": torch.get_num_threads(),
        "dtype": str(dtype).removeprefix("torch."),
        "batch_size": batch,
        "img_size": args.img_size,
        "params": params,
        "compiled": args.compile,
        "grad_checkpointing": args.grad_checkpointing,
        "steps": steps,
        "step_seconds": round(seconds, 5),
        "seconds_per_sample": round(seconds / batch, 5),
        "samples_per_second": round(batch / seconds, 3),
        "model_tflops_per_step": round(flops / 1e12, 4),
        "achieved_tflops": round(flops / seconds / 1e12, 3),
    }
    if peak:
        result["peak_tflops"] = peak / 1e12
        result["mfu"] = round(flops / seconds / peak, 4)
    if cuda:
        result["max_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
