"""``timbrelab evaluate RUN DATA``: score a model against a folder and print the report
(the scoring itself is :mod:`synth_core.evaluate`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from synth_core.errors import DatasetError


def cli_evaluate(args: argparse.Namespace) -> int:
    """``timbrelab evaluate RUN DATA [--train FOLDER] [--n N] [--json] [--seed S] [--repeats R]``.

    ``--train`` names the folder the model learnt from, for the memorisation ratio and the
    baselines, when the one its model.json records has moved or the model is a starter model.
    """
    from synth_core.dataset import load_clips_reporting, say_skipped
    from synth_core.evaluate import evaluate, format_report, training_clips
    from synth_core.runs import check_finite_weights, open_model

    model = open_model(args.run)
    # NaN weights render silence: scoring it would report numbers about nothing
    check_finite_weights(model, args.run)
    rate, seconds = int(model.sample_rate), float(model.config.clip_seconds)
    data = load_clips_reporting(args.data, say_skipped, sample_rate=rate, seconds=seconds)
    if len(data) < 2:
        raise DatasetError("evaluation needs at least 2 clips", path=args.data)
    folder = args.train
    if folder is not None and not Path(folder).is_dir():
        raise DatasetError("--train must be the folder the model was trained on", path=folder)
    train = training_clips(args.run, rate, seconds, folder=folder)
    report = evaluate(model, data, train, n=args.n, seed=args.seed, repeats=args.repeats)
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(format_report(report) + "\n")
    return 0
