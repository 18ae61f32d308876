"""``timbrelab bench [--family F] [--json]``: run the benches (:mod:`synth_core.benchmarks`) and
print a table or JSON."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict

import torch

from synth_core.benchmarks.families import run_bench
from synth_core.benchmarks.measure import BenchResult
from synth_core.benchmarks.notes import bench_note_latency
from synth_core.benchmarks.slider import bench_slider_latency
from synth_core.errors import ModelConfigError, TimbreLabError
from synth_core.models import available_families

log = logging.getLogger(__name__)


def cli_bench(args: argparse.Namespace) -> int:
    """``timbrelab bench [--family F] [--json]``; ``--family studio`` measures only the slider
    latency of the models the app opens, ``--family notes`` the note-on latency of a played
    note (cached and not), no ``--family`` every family and then those two."""
    if args.family in ("studio", "notes"):
        names = []
    elif args.family is not None:
        names = [args.family]
    else:
        names = [family.name for family in available_families()]
    results: list[BenchResult] = []
    failures: dict[str, str] = {}
    for name in names:
        try:
            results.extend(run_bench(name))
        except TimbreLabError as error:
            if args.family is not None:
                raise
            failures[name] = str(error)
        except Exception as error:  # one family's broken bench must not hide the others' numbers
            if args.family is not None:
                raise
            log.warning("bench of %s failed", name, exc_info=True)
            failures[name] = f"{type(error).__name__}: {error}"
        if not args.json:
            for result in (r for r in results if r.family == name):
                sys.stdout.write(result.line() + "\n")
            if name in failures:
                sys.stdout.write(f"{name:<9} skipped: {failures[name]}\n")
            sys.stdout.flush()
    if args.family in (None, "studio"):
        studio = bench_slider_latency()
        results.extend(studio)
        if not args.json:
            sys.stdout.write("".join(result.line() + "\n" for result in studio))
    if args.family in (None, "notes"):
        notes = bench_note_latency()
        results.extend(notes)
        if not args.json:
            sys.stdout.write("".join(result.line() + "\n" for result in notes))
    if args.json:
        report = {
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "results": [asdict(r) for r in results],
            "skipped": failures,
        }
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    if not results:
        raise ModelConfigError(f"no family could be benchmarked: {failures}")
    return 0
