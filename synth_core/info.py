"""What this installation has to work with: versions, compute device, audio outputs, paths.

:func:`collect` gathers it as plain data for ``timbrelab info``
(:mod:`synth_core.commands.info` prints it).

Everything here must report rather than fail: a machine without PortAudio, without a sound
server or without a GPU is a normal machine, and the reason is what the user needs to see.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from dataclasses import dataclass
from typing import Any

from synth_core import __version__, paths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioOutputs:
    """Output devices PortAudio can see, or why there are none.

    Parameters
    ----------
    devices : list of str
        ``"name (host API, N ch)"`` for each device with output channels; the default first.
    reason : str
        Empty when devices were listed; otherwise why not (no PortAudio, no sound server…).
    """

    devices: list[str]
    reason: str = ""


def audio_outputs() -> AudioOutputs:
    """List audio output devices without ever raising.

    ``sounddevice`` is imported here rather than at module level: importing it loads PortAudio,
    which raises ``OSError`` when the library is missing, and querying raises ``PortAudioError``
    when no sound server or card answers.
    """
    try:
        import sounddevice
    except OSError as error:
        return AudioOutputs([], f"PortAudio library not found ({error}); install libportaudio2")
    except ImportError as error:
        return AudioOutputs([], f"the sounddevice package is not installed ({error})")
    try:
        devices = sounddevice.query_devices()
        host_apis = sounddevice.query_hostapis()
        default_output = sounddevice.default.device[1]
    except Exception as error:  # PortAudioError and whatever a broken driver raises
        return AudioOutputs([], f"PortAudio cannot list devices ({error})")
    outputs: list[str] = []
    for index, device in enumerate(devices):
        if device["max_output_channels"] <= 0:
            continue
        api = host_apis[device["hostapi"]]["name"]
        text = f"{device['name']} ({api}, {device['max_output_channels']} ch)"
        if index == default_output:
            outputs.insert(0, text + " [default]")
        else:
            outputs.append(text)
    if not outputs:
        return AudioOutputs([], "no output device found (is a sound card or sound server present?)")
    return AudioOutputs(outputs)


def best_device() -> tuple[str, str]:
    """The compute device training would pick (CUDA, then MPS, then CPU) and a description."""
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.cuda.get_device_name(0)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps", "Apple GPU (Metal)"
    return "cpu", platform.processor() or platform.machine()


def collect() -> dict[str, Any]:
    """Everything ``timbrelab info`` shows, as plain data."""
    import soundfile
    import torch

    device, device_name = best_device()
    outputs = audio_outputs()
    return {
        "version": __version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "torch": torch.__version__,
        "device": device,
        "device_name": device_name,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "libsndfile": soundfile.__libsndfile_version__,
        "file_formats": sorted(soundfile.available_formats()),
        "audio_outputs": outputs.devices,
        "audio_outputs_reason": outputs.reason,
        "cache_dir": str(paths.cache_dir()),
        "config_dir": str(paths.config_dir()),
        "data_dir": str(paths.data_dir()),
    }
