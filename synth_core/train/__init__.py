"""Training a learner on a folder of sounds; ``from synth_core.train import Trainer, Budget``.

The package is split by what each part holds:

- :mod:`~synth_core.train.trainer`: :class:`Trainer`, the one loop for every learned family
  (budget, progress, checkpoints, NaN roll-back, stop/pause/resume);
- :mod:`~synth_core.train.budget`: :class:`Budget` and what a run reports (:class:`Progress`,
  :class:`Preview`, :class:`Callbacks`, :class:`TrainResult`);
- :mod:`~synth_core.train.data`: the held-out split, the data fingerprint, augmentation;
- :mod:`~synth_core.train.device`: the device and thread count;
- :mod:`~synth_core.train.optimizer`: the learner's optimiser: learning rate, state, device;
- :mod:`~synth_core.train.learners`: a fresh learner from a family, a preset and ``--set`` pairs.

The command (``timbrelab train``) is :mod:`synth_core.commands.train`; the JSON-lines events it
writes for the app are :mod:`synth_core.progress`.
"""

from synth_core.train.budget import Budget, Callbacks, Preview, Progress, TrainResult
from synth_core.train.data import augment, fingerprint, split_held_out, subset
from synth_core.train.device import configure_threads, select_device
from synth_core.train.learners import build_learner, family_presets, parse_settings
from synth_core.train.trainer import Trainer

__all__ = [
    "Budget",
    "Callbacks",
    "Preview",
    "Progress",
    "TrainResult",
    "Trainer",
    "augment",
    "build_learner",
    "configure_threads",
    "family_presets",
    "fingerprint",
    "parse_settings",
    "select_device",
    "split_held_out",
    "subset",
]
