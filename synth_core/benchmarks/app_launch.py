"""The desktop app's start: launch to first painted window, time to a sound, idle memory
(``timbrelab bench --family app``).

The app is started as the user starts it, ``python -m app``, in a new process with a fresh
configuration, cache and data folder (a first launch: it opens the default starter model), on
Qt's ``offscreen`` platform so no display is needed. The environment variable
``TIMBRELAB_BENCH_LAUNCH`` names a report file; with it set the app's
:class:`app.launch_probe.LaunchProbe` writes the moment its first frame was painted, the moment
the first generated sound was ready and its resident memory once settled, then quits. This
module never imports Qt or the app; without PySide6 it reports why it measured nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synth_core.benchmarks.measure import BenchResult
from synth_core.errors import TimbreLabError
from synth_core.paths import CACHE_ENV, CONFIG_ENV, DATA_ENV

LAUNCH_PROBE_ENV = "TIMBRELAB_BENCH_LAUNCH"
"""Read by :mod:`app.launch_probe`; set only here."""
LAUNCH_TIMEOUT_S = 360.0
"""A launch that has not reported by then failed (a 2-core machine loads the models in ~10 s)."""


class AppLaunchError(TimbreLabError):
    """The app could not be started or did not report its launch figures."""

    exit_code = 1


def measure_launch(*, timeout_s: float = LAUNCH_TIMEOUT_S) -> dict[str, object]:
    """Start the app once, first-launch fresh, and return its probe report with the figures
    worked out: ``launch_s`` (process start → first painted frame), ``first_sound_s`` (first
    frame → first generated sound ready), ``idle_rss_mib``, ``torch_imported_at_first_paint``.

    Raises
    ------
    AppLaunchError
        PySide6 or the app is not installed, the app exited early, or it did not report within
        ``timeout_s``.
    """
    if importlib.util.find_spec("PySide6") is None or importlib.util.find_spec("app") is None:
        raise AppLaunchError(
            "the desktop app is not installed here (PySide6 or the app package is missing); "
            "install timbrelab with its GUI to measure its launch"
        )
    with tempfile.TemporaryDirectory(prefix="timbrelab-launch-") as folder:
        root = Path(folder)
        report_path = root / "launch.json"
        env = dict(os.environ)
        env.update(
            {
                LAUNCH_PROBE_ENV: str(report_path),
                "QT_QPA_PLATFORM": "offscreen",
                CONFIG_ENV: str(root / "config"),
                CACHE_ENV: str(root / "cache"),
                DATA_ENV: str(root / "data"),
            }
        )
        started = time.time()
        try:
            result = subprocess.run(
                [sys.executable, "-m", "app"],
                env=env,
                cwd=root,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired as error:
            raise AppLaunchError(
                f"the app did not report its launch within {timeout_s:.0f} s"
            ) from error
        if not report_path.is_file():
            tail = "\n".join(result.stderr.strip().splitlines()[-5:])
            raise AppLaunchError(
                f"the app exited with code {result.returncode} before it reported its launch: "
                f"{tail or 'no message'}"
            )
        report = json.loads(report_path.read_text(encoding="utf-8"))
    if "first_paint" not in report:
        raise AppLaunchError("the app's window never painted a frame")
    report["launch_s"] = report["first_paint"] - started
    if "first_sound" in report:
        report["first_sound_s"] = report["first_sound"] - report["first_paint"]
    return report


def bench_app_launch() -> list[BenchResult]:
    """The launch figures as bench rows (see :func:`measure_launch`)."""
    report = measure_launch()
    torch_early = bool(report.get("torch_imported_at_first_paint"))
    results = [
        BenchResult(
            "app",
            "launch",
            "start → first painted window",
            float(report["launch_s"]),
            "s",
            {
                "torch imported by then": "yes" if torch_early else "no",
                "RSS then MiB": round(float(report.get("rss_at_first_paint_mib", 0.0))),
            },
        )
    ]
    if "first_sound_s" in report:
        results.append(
            BenchResult(
                "app",
                "launch",
                "window → first sound ready",
                float(report["first_sound_s"]),
                "s",
                {"starter model": "default (first launch)"},
            )
        )
    results.append(
        BenchResult(
            "app",
            "idle",
            "resident memory, settled",
            float(report["idle_rss_mib"]),
            "MiB",
            {"after first sound s": report.get("settle_s", 0.0)}
            if "first_sound_s" in report
            else {"problem": report.get("problem", "no sound")},
        )
    )
    return results
