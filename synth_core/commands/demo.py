"""``timbrelab demo``: from nothing to a sample pack, headless, in about a minute.

Renders the built-in sounds, trains a quick model on them with a progress bar, and writes a
small sample pack (WAV files, each with a JSON sidecar that recreates it) to ``./timbrelab-demo/``
by default. ``make run`` falls back to it on a machine without a display.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import torch

from synth_core.errors import ModelConfigError

log = logging.getLogger(__name__)

PACK_SIZE = 8
PACK_SPREAD = 0.2
PACK_PITCH = 60.0


def run_demo(
    out: Path, *, family: str = "vae", minutes: float = 1.0, progress: bool = True
) -> list[Path]:
    """Train ``family`` on the built-in sounds for ``minutes`` and export a pack into ``out``.

    Returns
    -------
    list of Path
        The sound files written (under ``out / "sounds"``); the model is in ``out / "model"``.
    """
    from synth_core.builtin import builtin_clips
    from synth_core.checkpoint import read_model
    from synth_core.commands.progress_bar import TerminalProgressBar
    from synth_core.export import ExportSettings, export_batch
    from synth_core.train import Budget, Callbacks, Trainer, build_learner, family_presets

    if not minutes > 0:
        raise ModelConfigError(f"--max-minutes must be above 0, got {minutes}")
    out = Path(out)
    run_dir = out / "model"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    _say("Rendering the built-in sounds…")
    clips = builtin_clips("train")
    from synth_core.models import get_family

    presets = family_presets(get_family(family).model_class)
    torch.manual_seed(0)
    learner = build_learner(family, preset="quick" if "quick" in presets else None)
    _say(f"Training a {family} model on {len(clips.paths)} sounds for {minutes:g} min…")
    bar = TerminalProgressBar(family, seconds=minutes * 60) if progress else None
    try:
        result = Trainer(
            learner,
            clips,
            Budget(minutes=minutes),
            Callbacks(progress=bar.update) if bar is not None else Callbacks(),
            run_dir=run_dir,
            preview_every_s=0.0,
            seed=0,
            data_folder="built-in sounds (train split)",
        ).run()
    finally:
        if bar is not None:
            bar.close()
    model = read_model(run_dir)
    pitch = PACK_PITCH if model.pitch_conditioned else None
    _say(f"Trained for {result.step} steps; writing {PACK_SIZE} sounds…")
    batch = export_batch(
        model,
        out / "sounds",
        model_id=str(run_dir.resolve()),
        n=PACK_SIZE,
        spread=PACK_SPREAD,
        seed=0,
        pitch=pitch,
        settings=ExportSettings(sample_rate=44100, pattern="demo_{n}_seed{seed}"),
    )
    return batch.files


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


def cli_demo(args: argparse.Namespace) -> int:
    """``timbrelab demo [--out DIR] [--max-minutes M] [--family F]``."""
    started = time.perf_counter()
    out = Path(args.out)
    files = run_demo(out, family=args.family, minutes=float(args.max_minutes))
    sys.stdout.write(
        f"Sample pack: {len(files)} sounds in {(out / 'sounds').resolve()} "
        f"(model in {(out / 'model').resolve()}), {time.perf_counter() - started:.0f} s in all\n"
    )
    return 0
