"""Where training runs: the device to use and how many CPU threads."""

from __future__ import annotations

import os

import torch

from synth_core.errors import DeviceError


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


def configure_threads(device: torch.device, processes: int = 1) -> int:
    """Use the CPU cores this process may run on (at most 8: small models gain nothing more),
    shared fairly among ``processes`` training processes on this machine."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    cores = max(1, cores // max(1, processes))
    threads = max(1, min(cores, 8)) if device.type == "cpu" else max(1, min(cores, 4))
    torch.set_num_threads(threads)
    return threads
