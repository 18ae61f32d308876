"""The ``timbrelab`` command.

This module only parses arguments and dispatches: each command is implemented by a function
``cli_<command>(args) -> int`` in the module that owns the work (``dataset.cli_scan``,
``runs.cli_generate``, …), imported on first use so ``timbrelab info`` does not load torch models
it does not need. The installed ``timbrelab`` script is ``app.launcher.main``, which opens the
window when no command is given and otherwise calls :func:`main` here. Exit codes: 0 ok,
1 runtime failure, 2 usage or bad input, with one clear line on stderr for every
:class:`~synth_core.errors.TimbreLabError`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from synth_core import __version__
from synth_core.errors import TimbreLabError

# command -> (module, function)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("synth_core.demo", "cli_demo"),
    "info": ("synth_core.info", "cli_info"),
    "families": ("synth_core.runs", "cli_families"),
    "scan": ("synth_core.dataset", "cli_scan"),
    "starter-data": ("synth_core.builtin", "cli_starter_data"),
    "train": ("synth_core.train", "cli_train"),
    "generate": ("synth_core.runs", "cli_generate"),
    "reconstruct": ("synth_core.runs", "cli_reconstruct"),
    "evaluate": ("synth_core.evaluate", "cli_evaluate"),
    "export-model": ("synth_core.export", "cli_export_model"),
    "bench": ("synth_core.benchmarks.command", "cli_bench"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as the CLI contract says
        self.print_usage(sys.stderr)
        sys.stderr.write(f"timbrelab: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="timbrelab", description="Timbre Lab: train and play sound models.")
    parser.add_argument("--version", action="version", version=f"timbrelab {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("demo", help="train on built-in sounds for about a minute, export a pack")
    p.add_argument("--out", default="timbrelab-demo", help="folder for the sample pack")
    p.add_argument("--max-minutes", type=float, default=1.0)
    p.add_argument("--family", default="vae")

    sub.add_parser("info", help="version, device, threads, audio devices, paths")

    p = sub.add_parser("families", help="the model families and their defaults")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("scan", help="which files in a folder would be used or skipped, and why")
    p.add_argument("data", help="folder of sounds")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-recursive", action="store_true", help="do not look in sub-folders")

    p = sub.add_parser("starter-data", help="write the built-in dataset as WAV files")
    p.add_argument("out", help="folder to write (gets train/ and test/)")

    p = sub.add_parser("train", help="train a model on a folder of sounds")
    p.add_argument("data", help="folder of sounds")
    p.add_argument("--family", required=True, help="model family (see `timbrelab families`)")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after this long")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best)")
    p.add_argument("--progress", choices=["bar", "jsonl", "none"], default="bar")
    p.add_argument("--preset", default=None, help="named preset of the family (quick, better)")
    p.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="config override"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--checkpoint-every", type=float, default=60.0, metavar="S", help="seconds between saves"
    )

    p = sub.add_parser("generate", help="render sounds from a model")
    p.add_argument("run", help="run directory, starter model name, or physical:INSTRUMENT")
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--pitch", type=float, default=None, help="MIDI note number")
    p.add_argument("--seconds", type=float, default=None, help="length, for families that allow it")
    p.add_argument(
        "--primer",
        default=None,
        metavar="FILE",
        help="audio file to continue (rnn): the output starts with it, resynthesised",
    )
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--format", choices=["wav", "flac", "ogg"], default="wav")
    p.add_argument("--sample-rate", type=int, default=None)
    p.add_argument("--overwrite", action="store_true", help="replace files already in --out")

    p = sub.add_parser("reconstruct", help="analyse and resynthesise each file in a folder")
    p.add_argument("run")
    p.add_argument("in_dir")
    p.add_argument("--out", required=True, help="folder outside IN_DIR; sub-folders are kept")
    p.add_argument("--overwrite", action="store_true", help="replace files already in --out")

    p = sub.add_parser("evaluate", help="reconstruction and generation metrics against a folder")
    p.add_argument("run")
    p.add_argument("data")
    p.add_argument("--n", type=int, default=None, help="generated clips (default: as many as DATA)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--repeats", type=int, default=1,
        help="score generation with this many seeds and report mean ± sd (1-NN varies ±0.035)",
    )  # fmt: skip

    p = sub.add_parser("export-model", help="export a trained model for use outside the app")
    p.add_argument("run")
    p.add_argument("--format", choices=["torchscript", "onnx"], required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("bench", help="speed and memory numbers per family")
    p.add_argument("--family", default=None)
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        # the desktop app is `timbrelab` with no command (app/launcher.py); the core never
        # imports it, so here an empty command line is a usage error
        parser.print_usage(sys.stderr)
        sys.stderr.write(
            "timbrelab: error: name a command (see --help); `timbrelab` alone opens the app\n"
        )
        return 2
    module_name, function_name = COMMANDS[args.command]
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        return int(function(args) or 0)
    except TimbreLabError as error:
        sys.stderr.write(f"timbrelab {args.command}: {error}\n")
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"timbrelab {args.command}: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
