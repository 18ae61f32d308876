"""``timbrelab info``: version, device, threads, audio outputs and paths."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from synth_core.info import collect

#: The audio file formats worth naming, in the order shown (libsndfile knows dozens more).
NAMED_FORMATS = ("WAV", "FLAC", "OGG", "AIFF", "MP3")


def format_info(info: dict[str, Any]) -> str:
    """The text ``timbrelab info`` prints for :func:`synth_core.info.collect`'s data."""
    formats = ", ".join(name for name in NAMED_FORMATS if name in info["file_formats"])
    lines = [
        f"Timbre Lab {info['version']}",
        f"Python      {info['python']}",
        f"Platform    {info['platform']}",
        f"torch       {info['torch']}",
        f"Device      {info['device']} ({info['device_name']})",
        f"Threads     {info['threads']} torch threads, {info['cpu_count']} CPU cores",
        f"Audio files libsndfile {info['libsndfile']}: {formats}",
    ]
    if info["audio_outputs"]:
        lines.append("Audio out   " + info["audio_outputs"][0])
        lines += ["            " + name for name in info["audio_outputs"][1:]]
    else:
        lines.append(f"Audio out   none: {info['audio_outputs_reason']}")
    lines += [
        f"Cache       {info['cache_dir']}",
        f"Settings    {info['config_dir']}",
        f"Data        {info['data_dir']}",
    ]
    return "\n".join(lines)


def cli_info(args: argparse.Namespace) -> int:
    """Print what this installation has to work with. Always exits 0: a machine without a sound
    card or a GPU is a normal machine, and the reason is shown instead."""
    sys.stdout.write(format_info(collect()) + "\n")
    return 0
