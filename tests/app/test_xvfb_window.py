"""The real window on a real (virtual) X server, with a screenshot for a person to look at.

The screenshot is saved as ``main_window.png`` in the ``artifacts_dir`` folder
(``docs/screenshots/`` under ``make screenshots``, else outside the repository).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtGui import QImage

from tests.support.sounds import write_sound_folder

REPO = Path(__file__).resolve().parents[2]

log = logging.getLogger(__name__)


def harmonic_pluck(rate: int = 44100, seconds: float = 1.6, f0: float = 110.0) -> np.ndarray:
    """A decaying harmonic tone with a noise attack: something with a spectrogram worth seeing."""
    rng = np.random.default_rng(7)
    t = np.arange(round(seconds * rate)) / rate
    sound = sum(
        np.exp(-t * (2.0 + 1.5 * k)) * np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 24)
    )
    sound += 0.6 * rng.standard_normal(len(t)) * np.exp(-t * 60.0)
    return (0.8 * sound / np.abs(sound).max()).astype(np.float32)


def image_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    data = np.frombuffer(image.constBits(), dtype=np.uint8)
    return data.reshape(image.height(), image.bytesPerLine())[:, : image.width() * 4].reshape(
        image.height(), image.width(), 4
    )[..., 2::-1]  # BGRA -> RGB


@pytest.mark.slow
def test_real_window_under_xvfb_shows_a_loaded_folder(xvfb_display, tmp_path, artifacts_dir):
    folder = write_sound_folder(tmp_path / "sounds")
    sf.write(folder.root / "a harmonic pluck__p45.wav", harmonic_pluck(), 44100)
    png, report_path = artifacts_dir / "main_window.png", tmp_path / "report.json"
    png.unlink(missing_ok=True)
    env = xvfb_display.env()
    env["TIMBRELAB_T0"] = repr(time.time())

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.screenshot_app",
            str(folder.root),
            str(png),
            str(report_path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(report_path.read_text())
    log.info("start-up under Xvfb: %s", report)

    assert report["rows"] == len(folder.good) + 1
    assert report["skipped"] == len(folder.bad)
    assert "a harmonic pluck__p45.wav" in report["title"]
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1400, 900)
    pixels = image_array(image).reshape(-1, 3)
    # The waveform pen (#5b9cf0) and bright spectrogram colours are on screen, not a blank window.
    waveform = np.all(np.abs(pixels.astype(int) - (0x5B, 0x9C, 0xF0)) < 30, axis=1).mean()
    bright = (pixels.max(axis=1) > 200).mean()
    assert waveform > 0.002, f"waveform covers only {waveform:.4%} of the screen"
    assert bright > 0.01
    assert len(np.unique(pixels[::37], axis=0)) > 100
