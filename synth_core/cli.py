"""The ``timbrelab`` command.

This module only parses arguments and dispatches: each command is implemented by a function
``cli_<command>(args) -> int`` in its own module of :mod:`synth_core.commands`
(``commands.scan.cli_scan``, ``commands.generate.cli_generate``, …), which calls the library and
prints; it is imported on first use so ``timbrelab info`` does not load torch models it does not
need. The installed ``timbrelab`` script is ``app.launcher.main``, which opens the
window when no command is given and otherwise calls :func:`main` here.

Exit codes (also in ``timbrelab --help``): 0 ok; 1 the machine failed, not the input (disk
full, out of memory, a file the system would not read or write, a device that is not there,
training that diverged), so the same command can work later; 2 usage or bad input (an option,
a file or a run directory that cannot be used as given); 130 interrupted. Every failure is one
line on stderr naming the file or value at fault, never a traceback: a
:class:`~synth_core.errors.TimbreLabError` carries its own exit code, and operating-system
failures nothing caught earlier (``OSError``, ``MemoryError``) are worded by
:func:`~synth_core.errors.from_system_error`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from synth_core import __version__
from synth_core.errors import from_system_error

# command -> (module, function)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("synth_core.commands.demo", "cli_demo"),
    "info": ("synth_core.commands.info", "cli_info"),
    "families": ("synth_core.commands.families", "cli_families"),
    "scan": ("synth_core.commands.scan", "cli_scan"),
    "starter-data": ("synth_core.commands.starter_data", "cli_starter_data"),
    "train": ("synth_core.commands.train", "cli_train"),
    "generate": ("synth_core.commands.generate", "cli_generate"),
    "reconstruct": ("synth_core.commands.reconstruct", "cli_reconstruct"),
    "evaluate": ("synth_core.commands.evaluate", "cli_evaluate"),
    "export-model": ("synth_core.commands.export_model", "cli_export_model"),
    "export-pack": ("synth_core.commands.export_pack", "cli_export_pack"),
    "bench": ("synth_core.commands.bench", "cli_bench"),
    "compare": ("synth_core.commands.compare", "cli_compare"),
}


MAX_SEED = 2**63 - 1
"""Largest ``--seed``: families add offsets to a seed (a batch's ``seed + i``, evaluate's
``seed + 1000 * repeat``) and torch takes seeds below 2**64, so 2**63 leaves room for them."""
MAX_GENERATE = 100_000
"""Most sounds one ``generate`` writes; a bigger pack is several runs with other seeds."""
MAX_EVALUATE = 10_000
"""Most clips ``evaluate --n`` draws: they are scored together in memory."""
MAX_SECONDS = 600.0
"""Longest ``--seconds`` a sound may be (the longest file a dataset accepts, too)."""
MODEL_HELP = "model id: a run directory, a starter model's name, or physical:INSTRUMENT"
"""What the ``MODEL`` argument of generate, reconstruct, evaluate and the exports accepts
(:func:`synth_core.runs.open_model`)."""


def int_in_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting whole numbers ``low``–``high``; anything else (not a
    number, out of range, beyond 64 bits) is the parser's one-line error, exit 2."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected a whole number from {low} to {high}, got {text!r}"
            )
        return value

    return parse


def finite_float(
    low: float, high: float = math.inf, *, low_inclusive: bool = True
) -> Callable[[str], float]:
    """An argparse ``type`` accepting finite numbers from ``low`` (excluded unless
    ``low_inclusive``) to ``high``. ``float()`` alone would let ``nan``, ``inf`` and ``1e999``
    through, which no budget, pitch or length can mean."""
    bound = f"{'from' if low_inclusive else 'above'} {low:g}" + (
        f" to {high:g}" if math.isfinite(high) else ""
    )

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        in_range = value >= low if low_inclusive else value > low
        if not (math.isfinite(value) and in_range and value <= high):
            raise argparse.ArgumentTypeError(f"expected a finite number {bound}, got {text!r}")
        return value

    return parse


def sample_rate(text: str) -> int:
    """An argparse ``type``: a sample rate the audio module can resample to and write, Hz."""
    from synth_core.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

    try:
        return int_in_range(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a sample rate from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, got {text!r}"
        ) from None


def output_folder_problem(path: str | os.PathLike[str]) -> str | None:
    """Why no folder can be made (or written into) at ``path``, or None when one can.

    The nearest part of ``path`` that exists must be a folder: a file, a broken link or a
    device in the way would otherwise surface as ``FileExistsError`` or ``NotADirectoryError``
    deep inside a command, after its work was done.
    """
    path = Path(path)
    for place in (path, *path.parents):
        try:
            if place.is_dir():
                return None
            if not (place.exists() or place.is_symlink()):
                continue
        except (OSError, ValueError):  # unreadable or unnameable: the command will say why
            return None
        if place == path:
            return "exists and is not a folder"
        return f"{place} is not a folder, so no folder can be made inside it"
    return None


def output_folder(text: str) -> str:
    """An argparse ``type`` for ``--out``/``OUT`` folders (see :func:`output_folder_problem`)."""
    problem = output_folder_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{text!r} {problem}; choose another folder")
    return text


EPILOG = """\
exit codes:
  0    done
  1    the machine failed, not the input: disk full, out of memory, a file the
       system would not read or write, a device that is not there, training that
       diverged; the same command can work once that is fixed
  2    usage or bad input: an option, a sound folder, a file or a run directory
       that cannot be used as given
  130  interrupted (Ctrl-C)
Every error is one line on stderr that names the file or value at fault.
`timbrelab` with no command opens the app."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        # One line and exit 2, as the CLI contract says: no usage block, which is what a script
        # or the app would have to pick the actual complaint out of; --help has it.
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="timbrelab",
        description="Timbre Lab: train and play sound models.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"timbrelab {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("demo", help="train on built-in sounds for about a minute, export a pack")
    p.add_argument(
        "--out", type=output_folder, default="timbrelab-demo", help="folder for the sample pack"
    )
    p.add_argument("--max-minutes", type=finite_float(0, 1e6, low_inclusive=False), default=1.0)
    p.add_argument("--family", default="vae")

    sub.add_parser("info", help="version, device, threads, audio devices, paths")

    p = sub.add_parser("families", help="the model families and their defaults")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("scan", help="which files in a folder would be used or skipped, and why")
    p.add_argument("data", help="folder of sounds")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-recursive", action="store_true", help="do not look in sub-folders")

    p = sub.add_parser("starter-data", help="write the built-in dataset as WAV files")
    p.add_argument("out", type=output_folder, help="folder to write (gets train/ and test/)")

    p = sub.add_parser("train", help="train a model on a folder of sounds")
    p.add_argument("data", help="folder of sounds")
    p.add_argument("--family", required=True, help="model family (see `timbrelab families`)")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument(
        "--steps", type=int_in_range(1, 10**9), default=None, help="stop after this many steps"
    )
    p.add_argument(
        "--max-minutes",
        type=finite_float(0, 1e6, low_inclusive=False),
        default=None,
        help="stop after this long",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best)")
    p.add_argument("--progress", choices=["bar", "jsonl", "none"], default="bar")
    p.add_argument("--preset", default=None, help="named preset of the family (quick, better)")
    p.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="config override"
    )
    p.add_argument("--seed", type=int_in_range(0, MAX_SEED), default=0)
    p.add_argument(
        "--checkpoint-every",
        type=finite_float(0, low_inclusive=False),
        default=60.0,
        metavar="S",
        help="seconds between saves",
    )
    p.add_argument(
        "--nproc",
        type=int_in_range(1, 1024),
        default=1,
        metavar="N",
        help="train data-parallel in N local processes (torchrun; one per GPU, or CPU cores)",
    )

    p = sub.add_parser("generate", help="render sounds from a model")
    p.add_argument("run", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--n", type=int_in_range(1, MAX_GENERATE), default=1, help="how many sounds")
    p.add_argument("--out", type=output_folder, required=True)
    p.add_argument("--seed", type=int_in_range(0, MAX_SEED), default=None)
    p.add_argument("--pitch", type=finite_float(0, 127), default=None, help="MIDI note number")
    p.add_argument(
        "--seconds",
        type=finite_float(0, MAX_SECONDS, low_inclusive=False),
        default=None,
        help="length, for families that allow it",
    )
    p.add_argument(
        "--primer",
        default=None,
        metavar="FILE",
        help="audio file to continue (rnn): the output starts with it, resynthesised",
    )
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument(
        "--variations",
        action="store_true",
        help="vae, cnn, gan: variations of the training sounds each seed starts from "
        "(novelty 0), not new sounds",
    )
    p.add_argument("--format", choices=["wav", "flac", "ogg"], default="wav")
    p.add_argument("--sample-rate", type=sample_rate, default=None, help="Hz (8000–192000)")
    p.add_argument("--overwrite", action="store_true", help="replace files already in --out")

    p = sub.add_parser("reconstruct", help="analyse and resynthesise each file in a folder")
    p.add_argument("run", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("in_dir")
    p.add_argument(
        "--out",
        type=output_folder,
        required=True,
        help="folder outside IN_DIR; sub-folders are kept",
    )
    p.add_argument("--overwrite", action="store_true", help="replace files already in --out")

    p = sub.add_parser("evaluate", help="reconstruction and generation metrics against a folder")
    p.add_argument("run", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("data")
    p.add_argument(
        "--train", metavar="FOLDER", default=None,
        help="the folder the model was trained on (default: the one its model.json names), "
        "for the memorisation ratio and the baselines",
    )  # fmt: skip
    p.add_argument(
        "--n",
        type=int_in_range(1, MAX_EVALUATE),
        default=None,
        help="generated clips (default: as many as DATA)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--seed", type=int_in_range(0, MAX_SEED), default=0)
    p.add_argument(
        "--repeats", type=int_in_range(1, 1000), default=1,
        help="score generation with this many seeds and report mean ± sd (1-NN varies ±0.035)",
    )  # fmt: skip

    p = sub.add_parser("export-model", help="export a trained model for use outside the app")
    p.add_argument("run", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--format", choices=["torchscript", "onnx"], required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser(
        "export-pack", help="render the sound across a key range as an SFZ sampler instrument"
    )
    p.add_argument("run", metavar="MODEL", help=MODEL_HELP)
    p.add_argument(
        "--pitches", default="36:84:3", metavar="START:STOP:STEP",
        help="MIDI notes to sample (stop included; default 36:84:3)",
    )  # fmt: skip
    p.add_argument(
        "--velocities", type=int_in_range(1, 16), default=1, help="velocity layers (1–16)"
    )
    p.add_argument("--out", type=output_folder, required=True, help="folder for the pack")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--seed", type=int_in_range(0, MAX_SEED), default=0)
    p.add_argument("--format", choices=["wav", "flac"], default="wav")
    p.add_argument("--sample-rate", type=int, choices=[44100, 48000, 96000], default=48000)
    p.add_argument("--overwrite", action="store_true", help="replace a pack already in --out")

    p = sub.add_parser(
        "compare", help="train several families alike and write a side-by-side HTML report"
    )
    p.add_argument("data", nargs="?", default=None, help="folder of sounds")
    p.add_argument("--families", default="gmm,hmm,vae", help="comma-separated families, or all")
    p.add_argument(
        "--minutes", type=finite_float(0, 1e6, low_inclusive=False), default=None,
        help="training time per family (default 1 unless --steps is given)",
    )  # fmt: skip
    p.add_argument("--steps", type=int_in_range(1, 10**9), default=None, help="steps per family")
    p.add_argument("--out", default=None, help="folder for the runs, compare.json and report.html")
    p.add_argument("--test", default=None, help="folder to score on (default: held-out split)")
    p.add_argument(
        "--test-clips", type=int_in_range(2, MAX_EVALUATE), default=None, metavar="N",
        help="score on at most N test clips (scoring time grows with them)",
    )  # fmt: skip
    p.add_argument(
        "--lesson", default=None, metavar="OUT",
        help="the starter data, all seven families, 9.5 minutes in all (each trains up to a "
        "minute, less when the families to come need the time; lighter sound matching and "
        "fewer reconstruction steps, named in the report's notes), into OUT",
    )  # fmt: skip
    p.add_argument("--progress", choices=["lines", "jsonl", "none"], default="lines")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best)")
    p.add_argument("--seed", type=int_in_range(0, MAX_SEED), default=0)

    p = sub.add_parser("bench", help="speed and memory numbers per family")
    p.add_argument(
        "--family", default=None,
        help="one family, or studio, notes, app (the app's launch, first sound, idle memory) "
        "or map (the sound map's frame time and layout times)",
    )  # fmt: skip
    p.add_argument(
        "--json", nargs="?", const="-", default=None, metavar="FILE",
        help="write the report (device, versions, machine, every figure) to FILE; "
        "without FILE print it as JSON instead of the table",
    )  # fmt: skip
    p.add_argument(
        "--compare", nargs="+", default=None, metavar="OLD.json",
        help="print each figure's ratio to OLD's and flag regressions over 10 %%; "
        "OLD.json NEW.json compares two saved reports without measuring",
    )  # fmt: skip
    p.add_argument("--note", default="", help="a remark saved in the report (machine load…)")
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
    except KeyboardInterrupt:
        sys.stderr.write(f"timbrelab {args.command}: interrupted\n")
        return 130
    except Exception as error:
        # a full disk under any command, exhausted memory, an unwritable file: one line, exit 1;
        # anything else is a bug and keeps its traceback
        typed = from_system_error(error, path=getattr(args, "out", None))
        if typed is None:
            raise
        # a path in the message may hold a newline or an escape sequence: keep it one line
        from synth_core.dataset import printable_name

        sys.stderr.write(f"timbrelab {args.command}: {printable_name(str(typed))}\n")
        return typed.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
