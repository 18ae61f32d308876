"""Starter models: rebuilt reproducibly from the built-in sounds (``make starter-models``).

``python -m synth_core.starter`` trains each model in :data:`STARTERS` on the built-in training
split for a fixed number of steps (not minutes, so a slow machine gets the same model), on the
CPU, one thread, seed 0, and writes ``resources/models/<name>/`` with ``model.json``,
``weights.safetensors`` and ``history.jsonl`` (no optimiser state: nobody resumes a starter
model). The app loads the first one on launch; the command line accepts the names as ``RUN``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from synth_core import checkpoint as ckpt
from synth_core.dataset import ClipSet

log = logging.getLogger(__name__)

RESOURCES_MODELS = Path(__file__).resolve().parent.parent / "resources" / "models"
SIZE_LIMIT_BYTES = 25 * 1024 * 1024
KEEP_FILES = (ckpt.MODEL_FILE, ckpt.WEIGHTS_FILE, ckpt.HISTORY_FILE)


@dataclass(frozen=True)
class StarterSpec:
    """One starter model: ``name`` (folder and CLI name), ``family``, the family ``preset``,
    extra config ``settings`` and the number of training ``steps``."""

    name: str
    family: str
    steps: int
    preset: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


STARTERS: tuple[StarterSpec, ...] = (
    StarterSpec("builtin-vae", "vae", steps=2000, preset="quick"),
    StarterSpec("builtin-cnn", "cnn", steps=2000, preset="quick"),
    # the cnn's autoencoder plus two GAN steps per step (4 000 GAN steps)
    StarterSpec("builtin-gan", "gan", steps=2000, preset="quick"),
    # EM families converge in a few dozen iterations; more only repeats a converged step
    StarterSpec("builtin-gmm", "gmm", steps=60),
    StarterSpec("builtin-hmm", "hmm", steps=30),
    # a gradient family over DDSP frames: a few thousand cheap steps (a minute here)
    StarterSpec("builtin-rnn", "rnn", steps=3000),
)


class ProgressBar:
    """A tqdm bar on stderr fed by the Trainer's progress callback, counting steps or seconds."""

    def __init__(self, label: str, *, steps: int | None = None, seconds: float | None = None):
        from tqdm import tqdm

        self.by_steps = steps is not None
        total = steps if self.by_steps else round(seconds or 0)
        unit = "step" if self.by_steps else "s"
        # a time budget counts seconds; tqdm's rate ("s/s") would only confuse
        fmt = None if self.by_steps else "{l_bar}{bar}| {n_fmt}/{total_fmt} s [{elapsed}]"
        self.bar = tqdm(
            total=total,
            desc=label,
            unit=unit,
            bar_format=fmt,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def update(self, progress: Any) -> None:
        self.bar.n = (
            progress.step if self.by_steps else min(round(progress.elapsed_s), self.bar.total)
        )
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def build_starter(
    spec: StarterSpec,
    out: Path,
    *,
    steps: int | None = None,
    progress: bool = True,
    clips: ClipSet | None = None,
) -> Path:
    """Train ``spec`` on the built-in training sounds and write it to ``out / spec.name``.

    Parameters
    ----------
    spec : StarterSpec
    out : Path
        Folder that receives the model folder (replaced if present).
    steps : int, optional
        Override of ``spec.steps`` (tests build tiny ones).
    progress : bool
        Draw a progress bar on stderr.
    clips : ClipSet, optional
        What to train on instead of the built-in training split (tests use a few clips).

    Returns
    -------
    Path of the model folder.
    """
    from synth_core.builtin import builtin_clips
    from synth_core.train import Budget, Callbacks, Trainer, build_learner

    total = int(steps if steps is not None else spec.steps)
    # one thread: the same floating-point summation order on every run, so the same weights
    torch.set_num_threads(1)
    clips = builtin_clips("train") if clips is None else clips
    # the initial weights are drawn when the learner is built, before the Trainer's seed applies
    torch.manual_seed(0)
    learner = build_learner(spec.family, preset=spec.preset, settings=spec.settings)
    bar = ProgressBar(spec.name, steps=total) if progress else None
    callbacks = Callbacks(progress=bar.update) if bar is not None else Callbacks()
    with tempfile.TemporaryDirectory(prefix=f"starter-{spec.name}-") as scratch:
        run = Path(scratch) / spec.name
        try:
            Trainer(
                learner,
                clips,
                Budget(steps=total),
                callbacks,
                run_dir=run,
                device="cpu",
                seed=0,
                preview_every_s=0.0,
                checkpoint_every_s=1e9,
                data_folder="built-in sounds (train split)",
            ).run()
        finally:
            if bar is not None:
                bar.close()
        target = out / spec.name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name in KEEP_FILES:
            if (run / name).exists():
                shutil.copy2(run / name, target / name)
    compact_weights(target / ckpt.WEIGHTS_FILE)
    return target


# Tensors this large are fixed bases (the spectral families' eigen-sound PCA basis is 2.8 M
# values), not trained weights: half precision keeps them within 1e-3 relative error and halves
# what the app ships. Loading copies them into the model's float32 buffers.
COMPACT_MIN_VALUES = 1_000_000


def compact_weights(path: Path) -> None:
    """Store the large float32 tensors of a starter's weights file as float16, in place."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(path))
    large = [
        k for k, v in state.items() if v.dtype == torch.float32 and v.numel() >= COMPACT_MIN_VALUES
    ]
    if not large:
        return
    for key in large:
        state[key] = state[key].half()
    scratch = path.with_suffix(".tmp")
    save_file(state, str(scratch))
    scratch.replace(path)


def folder_size(path: Path) -> int:
    """Bytes in the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m synth_core.starter [--out DIR] [--only NAME ...]``."""
    parser = argparse.ArgumentParser(prog="python -m synth_core.starter", description=__doc__)
    parser.add_argument("--out", type=Path, default=RESOURCES_MODELS)
    parser.add_argument("--only", nargs="*", default=None, help="names of starters to rebuild")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    wanted = [s for s in STARTERS if args.only is None or s.name in args.only]
    if not wanted:
        names = ", ".join(s.name for s in STARTERS)
        sys.stderr.write(f"no starter model by that name; known: {names}\n")
        return 2
    started = time.perf_counter()
    for spec in wanted:
        began = time.perf_counter()
        target = build_starter(spec, args.out)
        sys.stdout.write(
            f"{spec.name}: {spec.family}, {spec.steps} steps, {folder_size(target) / 1e6:.1f} MB, "
            f"{time.perf_counter() - began:.0f} s → {target}\n"
        )
    total = sum(folder_size(p) for p in args.out.iterdir() if p.is_dir())
    sys.stdout.write(
        f"starter models: {total / 1e6:.1f} MB in all, rebuilt in "
        f"{(time.perf_counter() - started) / 60:.1f} min\n"
    )
    if total > SIZE_LIMIT_BYTES:
        sys.stderr.write(f"starter models take {total / 1e6:.1f} MB, over the 25 MB limit\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
