"""Wall time of the commands users type most, each in a fresh interpreter; prints JSON.

Usage: .venv/bin/python bench/cli_latency.py [--repeat 5]
Target: `geofm --help` and `geofm backbones list` under 1 s on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "geofm --help": ["--help"],
    "geofm plugins": ["plugins"],
    "geofm backbones list": ["backbones", "list"],
}


def time_command(args: list[str], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "geofm_cli.app", *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    results = {name: time_command(args, options.repeat) for name, args in COMMANDS.items()}
    print(
        json.dumps(
            {"benchmark": "cli_latency", "repeat": options.repeat, "results": results, "target_s": 1.0}, indent=2
        )
    )


if __name__ == "__main__":
    main()
