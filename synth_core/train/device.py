"""Where training runs: the device to use, how many CPU threads, and optimiser state on it."""

from __future__ import annotations

import os

import torch

from synth_core.errors import DeviceError
from synth_core.models.base import TrainableModel


def select_device(requested: str | None = None) -> torch.device:
    """The device to train on: ``requested``, else CUDA, then MPS, then CPU.

    Raises
    ------
    DeviceError
        When ``requested`` names a device that is not available here.
    """
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError:
            raise DeviceError(
                f"unknown device {requested!r}; use cpu, cuda, cuda:N or mps"
            ) from None
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise DeviceError(f"device {requested!r} asked for, but CUDA is not available")
            if device.index is not None and device.index >= torch.cuda.device_count():
                raise DeviceError(
                    f"device {requested!r} asked for, but only {torch.cuda.device_count()} "
                    "CUDA device(s) exist"
                )
        elif device.type == "mps" and not torch.backends.mps.is_available():
            raise DeviceError(f"device {requested!r} asked for, but MPS is not available")
        elif device.type not in ("cpu", "cuda", "mps"):
            raise DeviceError(f"unsupported device {requested!r}; use cpu, cuda, cuda:N or mps")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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


def configure_threads(device: torch.device) -> int:
    """Use the CPU cores this process may run on (at most 8: small models gain nothing more)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    threads = max(1, min(cores, 8)) if device.type == "cpu" else max(1, min(cores, 4))
    torch.set_num_threads(threads)
    return threads
