"""``timbrelab bench [--family F] [--json [FILE]] [--compare OLD [NEW]]``: run the benches
(:mod:`synth_core.benchmarks`), print a table or JSON, save the report and compare it with an
older one (:mod:`synth_core.benchmarks.compare`)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from synth_core.benchmarks import compare
from synth_core.benchmarks.app_launch import bench_app_launch
from synth_core.benchmarks.families import run_bench
from synth_core.benchmarks.measure import BenchResult
from synth_core.benchmarks.notes import bench_note_latency
from synth_core.benchmarks.slider import bench_slider_latency
from synth_core.errors import ModelConfigError, TimbreLabError
from synth_core.models import available_families

log = logging.getLogger(__name__)


#: ``--family`` values that are not model families: the app's own figures
APP_SUBJECTS = ("studio", "notes", "app", "map")


def cli_bench(args: argparse.Namespace) -> int:
    """``timbrelab bench [--family F] [--json [FILE]] [--compare OLD [NEW]]``.

    ``--family studio`` measures only the slider latency of the models the app opens,
    ``--family notes`` the note-on latency of a played note (cached and not), ``--family app``
    the app's launch, first sound and idle memory, no ``--family`` every family and then those
    three. ``--json`` prints the report as JSON instead of the table, ``--json FILE`` writes it
    to FILE as well as printing the table. ``--compare OLD`` then prints each figure's ratio to
    OLD's and ends with "N regressions over 10 %"; ``--compare OLD NEW`` compares two saved
    reports without measuring. Exit status 0 whatever the comparison says: it is a report.
    """
    json_to_stdout = args.json == "-"
    if args.compare and len(args.compare) > 2:
        raise ModelConfigError("--compare takes OLD.json, or OLD.json NEW.json")
    old = compare.load_report(Path(args.compare[0])) if args.compare else None
    if args.compare and len(args.compare) == 2:
        new = compare.load_report(Path(args.compare[1]))
        lines = compare.comparison_lines(
            compare.compare_reports(old, new), old_label=args.compare[0]
        )
        sys.stdout.write("".join(line + "\n" for line in lines))
        return 0
    environment = compare.environment()
    if args.family in APP_SUBJECTS:
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
        if not json_to_stdout:
            for result in (r for r in results if r.family == name):
                sys.stdout.write(result.line() + "\n")
            if name in failures:
                sys.stdout.write(f"{name:<9} skipped: {failures[name]}\n")
            sys.stdout.flush()
    if args.family in (None, "studio"):
        studio = bench_slider_latency()
        results.extend(studio)
        if not json_to_stdout:
            sys.stdout.write("".join(result.line() + "\n" for result in studio))
    if args.family in (None, "notes"):
        notes = bench_note_latency()
        results.extend(notes)
        if not json_to_stdout:
            sys.stdout.write("".join(result.line() + "\n" for result in notes))
    if args.family in (None, "app"):
        try:
            launch = bench_app_launch()
        except TimbreLabError as error:  # no GUI installed: the other numbers still count
            if args.family is not None:
                raise
            failures["app"] = str(error)
            launch = []
        results.extend(launch)
        if not json_to_stdout:
            sys.stdout.write("".join(result.line() + "\n" for result in launch))
            if "app" in failures:
                sys.stdout.write(f"{'app':<9} skipped: {failures['app']}\n")
    if args.family in (None, "map"):
        # the sound map's frame time at 10 000 points and its layout times (imports openTSNE)
        from synth_core.benchmarks.maps import bench_map

        mapped = bench_map()
        results.extend(mapped)
        if not json_to_stdout:
            sys.stdout.write("".join(result.line() + "\n" for result in mapped))
    if not results:
        raise ModelConfigError(f"no family could be benchmarked: {failures}")
    report = compare.build_report(
        results, environment_at_start=environment, skipped=failures, note=args.note
    )
    if args.json is not None:
        compare.write_report(report, Path(args.json))
    if old is not None:
        if args.family is not None:  # the other families' figures were not asked for
            prefix = f"{args.family}/"
            old = {
                **old,
                "figures": {k: v for k, v in old["figures"].items() if k.startswith(prefix)},
            }
        lines = compare.comparison_lines(
            compare.compare_reports(old, report), old_label=args.compare[0]
        )
        sys.stdout.write("".join(line + "\n" for line in lines))
    return 0
