"""Starter models: rebuilt reproducibly from the built-in sounds (``make starter-models``).

:func:`build_starter` trains one model of :data:`STARTERS` on the built-in training split for
a fixed number of steps (not minutes, so a slow machine gets the same model), on the CPU, one
thread, seed 0, and writes ``resources/models/<name>/`` with ``model.json``,
``weights.safetensors`` and ``history.jsonl`` (no optimiser state: nobody resumes a starter
model); ``python -m synth_core.commands.starter_models`` rebuilds them all. The app loads the
first one on launch; the command line accepts the names as a model id.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from synth_core import checkpoint as ckpt
from synth_core.dataset import ClipSet
from synth_core.paths import resources_dir

if TYPE_CHECKING:
    from synth_core.train import Progress

log = logging.getLogger(__name__)

RESOURCES_MODELS = resources_dir() / "models"
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


# The spectral starters take the defaults: the harmonic axis, the convergence term, 4 render
# iterations. With the grain added where it was measured (777782c), their new sounds on the
# built-in test split beat the linear-axis builds they replace (vae 0.686 against 0.710, cnn
# 0.683 against 0.712, gan 0.674 against 0.724; Fréchet 39–40 against 46–50;
# docs/experiments/harmonic-axis.md, "The starters, again").

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


def build_starter(
    spec: StarterSpec,
    out: Path,
    *,
    steps: int | None = None,
    progress: Callable[[Progress], None] | None = None,
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
    progress : callable(Progress), optional
        Called with the trainer's progress reports (the command draws a bar with them).
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
    callbacks = Callbacks(progress=progress) if progress is not None else Callbacks()
    with tempfile.TemporaryDirectory(prefix=f"starter-{spec.name}-") as scratch:
        run = Path(scratch) / spec.name
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
        target = out / spec.name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name in KEEP_FILES:
            if (run / name).exists():
                shutil.copy2(run / name, target / name)
    compact_weights(target / ckpt.WEIGHTS_FILE)
    return target


def refit_novelty(target: Path, clips: ClipSet | None = None) -> float | None:
    """Measure the novelty scale of the starter in ``target`` again (``fit_novelty``) on the
    clips it trained on, less its held-out files, and store it in its weights file; every
    other stored tensor is kept as it is. None for a family without one.

    A starter saved before new sounds existed then draws them too, without retraining.
    """
    from safetensors.torch import load_file, save_file

    from synth_core.builtin import builtin_clips
    from synth_core.models.spectral import SpectralAutoencoder
    from synth_core.train import subset

    model = ckpt.read_model(target)
    if not isinstance(model, SpectralAutoencoder):
        return None
    clips = builtin_clips("train") if clips is None else clips
    held = set(ckpt.read_record(target).dataset.get("held_out_files", []))
    keep = [i for i, path in enumerate(clips.paths) if Path(path).name not in held]
    model.eval()
    model.fit_novelty(subset(clips, keep))
    path = target / ckpt.WEIGHTS_FILE
    state = load_file(str(path))
    state["novelty_scale"] = model.novelty_scale.detach().cpu().clone()
    scratch = path.with_suffix(".tmp")
    save_file(state, str(scratch))
    scratch.replace(path)
    return float(model.novelty_scale)


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
