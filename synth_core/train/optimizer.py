"""The learner's optimiser as the trainer handles it: its learning rate, its state for a
checkpoint or a roll-back, and that state's device."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from synth_core import checkpoint as ckpt
from synth_core.models.base import TrainableModel


class LearnerOptimizer:
    """The optimiser a learner exposes as ``learner.optimizer`` (None for EM families).

    It is looked up on every use: a learner may create it in ``begin``. A learner with an
    optimiser of its own kind (or several) saves and loads the state itself through
    ``optimizer_state``/``load_optimizer_state``; otherwise the torch optimiser's state dict is
    flattened into named tensors (:func:`synth_core.checkpoint.flatten_optimizer_state`).
    """

    def __init__(self, learner: TrainableModel) -> None:
        self.learner = learner

    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        optimizer = self.learner.optimizer
        return optimizer if isinstance(optimizer, torch.optim.Optimizer) else None

    @property
    def lr(self) -> float | None:
        """The first parameter group's learning rate; None without an optimiser."""
        optimizer = self.optimizer
        return None if optimizer is None else float(optimizer.param_groups[0]["lr"])

    def scale_lr(self, factor: float) -> None:
        optimizer = self.optimizer
        if optimizer is not None:
            for group in optimizer.param_groups:
                group["lr"] = group["lr"] * factor

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """The optimiser state as named tensors and the JSON-able rest (both empty without one)."""
        own = self.learner.optimizer_state()
        if own is not None:
            return dict(own), {}
        optimizer = self.optimizer
        if optimizer is None:
            return {}, {}
        return ckpt.flatten_optimizer_state(optimizer.state_dict())

    def load_state(self, tensors: Mapping[str, Tensor], rest: Mapping[str, Any]) -> None:
        """Load what :meth:`state` returned (tensors named ``trainer.*`` are the trainer's own)."""
        if self.learner.load_optimizer_state(
            {k: v for k, v in tensors.items() if not k.startswith("trainer.")}
        ):
            return
        optimizer = self.optimizer
        if optimizer is not None and rest.get("param_groups"):
            optimizer.load_state_dict(ckpt.unflatten_optimizer_state(tensors, rest))


def rehome_optimizers(learner: TrainableModel) -> None:
    """Put every optimiser's state on its parameters' device.

    A resumed run loads its optimiser state while the learner is still on the CPU; moving the
    learner to a GPU afterwards moves the parameters but not that state, and the next Adam step
    fails with "Expected all tensors to be on the same device" (found by ``bench/gpu_check.sh``
    on an H200). ``load_state_dict`` casts each state tensor to its parameter's device (Adam's
    step counters stay where torch wants them).
    """
    for value in vars(learner).values():
        if isinstance(value, torch.optim.Optimizer) and value.state:
            value.load_state_dict(value.state_dict())
