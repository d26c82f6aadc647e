"""What the latency benchmarks (`run.py`, `shapes.py`) share: their load options, their rounds (every
latency, `--repeat` times, Ctrl-C or SIGTERM cleaning up alike) and their JSON file."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from load import median

Round = Callable[[int, argparse.Namespace, Path], Awaitable[dict[str, Any]]]


def load_options(parser: argparse.ArgumentParser, unit: str) -> None:
    """The options of a closed-loop load at each upstream latency; `unit`: what one measurement is."""
    parser.add_argument("--latency-ms", type=lambda text: [int(v) for v in text.split(",")], default=[0, 20],
                        help="upstream latencies to measure at, comma-separated (default 0,20)")
    parser.add_argument("--duration", type=float, default=5.0, help=f"seconds measured per {unit} (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load first (default 1)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--repeat", type=int, default=1, help="repeat everything N times, report medians")
    parser.add_argument("--json", help="also write the results to this file")


async def every_round(args: argparse.Namespace, one_round: Round, *, prefix: str, label: str = "") -> dict[int, list[dict[str, Any]]]:
    """`one_round` at each of `args.latency_ms`, `args.repeat` times, in a working folder of its own."""
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)  # clean up as on Ctrl-C
    runs: dict[int, list[dict[str, Any]]] = {latency: [] for latency in args.latency_ms}
    with tempfile.TemporaryDirectory(prefix=prefix) as workdir:
        for repeat in range(args.repeat):
            for latency in args.latency_ms:
                print(f"run {repeat + 1}/{args.repeat}, {label}upstream latency {latency} ms", flush=True)
                runs[latency].append(await one_round(latency, args, Path(workdir)))
    return runs


def write_json(args: argparse.Namespace, report: dict[str, Any], runs: dict[int, list[dict[str, Any]]]) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "median": report, "runs": runs}, indent=2))


def medians(runs: list[dict[str, Any]], key: str, metrics: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per measurement under `key` (a scenario, a shape) of each run: the median of each of `metrics`
    over the runs, and every run's errors by kind."""
    table: dict[str, dict[str, Any]] = {}
    for name in runs[0][key]:
        measured = [run[key][name] for run in runs]
        table[name] = {metric: median([m[metric] for m in measured]) for metric in metrics}
        table[name]["error kinds"] = dict(sum((Counter(m["error kinds"]) for m in measured), Counter()))
    return table
