"""``timbrelab compare DATA --families vae,gmm --minutes M --out DIR [--test FOLDER]`` and
``timbrelab compare --lesson OUT``: train several families alike and write the comparison
(:mod:`synth_core.compare`) with its HTML report.

With ``--progress jsonl`` every event of :func:`synth_core.compare.compare` is one JSON object a
line on stdout, for the app's comparison panel; otherwise one line per family on stderr.
SIGINT/SIGTERM stop the family being trained; the report keeps the rows already finished.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from synth_core.cli import output_folder_problem
from synth_core.errors import CheckpointError, ModelConfigError


def cli_compare(args: argparse.Namespace) -> int:
    """Run the comparison the arguments describe and say where the report is."""
    from synth_core.compare import (
        COMPARE_FILE,
        REPORT_FILE,
        CompareSettings,
        compare,
        lesson_settings,
        parse_families,
    )
    from synth_core.report_html import write_report

    out = Path(args.lesson or args.out or "")
    if not (args.lesson or args.out):
        raise ModelConfigError("name the output folder: --out DIR (or --lesson OUT)")
    problem = output_folder_problem(out)
    if problem is not None:
        raise CheckpointError(f"{problem}; choose another folder", path=out)
    if (out / COMPARE_FILE).exists() or (out / "runs").exists():
        raise CheckpointError("already holds a comparison; choose another folder", path=out)
    if args.lesson:
        if args.data is not None:
            raise ModelConfigError("--lesson brings its own data: leave DATA out")
        settings = lesson_settings(out, device=args.device)
    else:
        if args.data is None:
            raise ModelConfigError("name the folder of sounds to compare on (DATA)")
        minutes = args.minutes
        if minutes is None and args.steps is None:
            minutes = 1.0
        settings = CompareSettings(
            data=Path(args.data),
            families=parse_families(args.families),
            out=out,
            minutes=minutes,
            steps=args.steps,
            test=None if args.test is None else Path(args.test),
            seed=args.seed,
            device=args.device,
            test_clips=args.test_clips,
        )

    jsonl = args.progress == "jsonl"

    def on_event(event: dict) -> None:
        if jsonl:
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()
        elif args.progress != "none" and event["event"] == "family":
            budget = f" for {event['minutes'] * 60:.0f} s" if event.get("minutes") else ""
            sys.stderr.write(
                f"[{event['index'] + 1}/{event['of']}] training {event['family']}{budget}…\n"
            )
        elif args.progress != "none" and event["event"] == "row":
            row = event["row"]
            sys.stderr.write(
                f"      {row['family']}: {row['steps']} steps in {row['train_seconds']:.0f} s, "
                f"1-NN {row['one_nn']}\n"
            )

    stop_requested = threading.Event()
    previous = {
        s: signal.signal(s, lambda signum, frame: stop_requested.set())
        for s in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        result = compare(settings, on_event=on_event, should_stop=stop_requested.is_set)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    write_report(out)
    if not jsonl:
        sys.stderr.write(
            f"{'stopped: ' if result.stopped else ''}{len(result.rows)} families compared in "
            f"{result.wall_seconds / 60:.1f} min → {out / REPORT_FILE}\n"
        )
    return 0
