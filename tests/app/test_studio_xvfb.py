"""The studio in the real window on Xvfb: screenshots of each state for a person to look at.

Saved to the ``artifacts_dir`` folder (``docs/screenshots/`` under ``make screenshots``, else
outside the repository): ``studio_first_launch.png`` (a model loaded and its
sound drawn), ``studio_explore.png`` (sliders moved, a morph in progress),
``studio_export_dialog.png`` (the dialog after writing a batch) and ``studio_training.png``
(training in progress with loss curves). The window runs in a child process
(``python -m tests.app.test_studio_xvfb FOLDER ARTIFACTS REPORT``) so its Qt uses the X display.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

REPO = Path(__file__).resolve().parents[2]
SHOTS = ("studio_first_launch", "studio_explore", "studio_export_dialog", "studio_training")
TIMEOUT_MS = 150_000
TINY_VAE = "channels=16 latent_channels=2 n_controls=4 batch_size=4 clip_seconds=0.5"


def write_tones(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(22050) / 44100
    for i in range(8):
        tone = 0.5 * np.sin(2 * np.pi * 110 * 2 ** (i / 12) * t) * np.exp(-t * (3 + i))
        soundfile.write(folder / f"tone{i}__p{45 + i:03d}.wav", tone.astype(np.float32), 44100)
    return folder


@pytest.mark.slow
def test_studio_states_under_xvfb(xvfb_display, tmp_path, artifacts_dir):
    folder = write_tones(tmp_path / "sounds")
    for name in SHOTS:
        (artifacts_dir / f"{name}.png").unlink(missing_ok=True)
    report_path = tmp_path / "report.json"
    env = xvfb_display.env()
    for name in ("CACHE", "CONFIG", "DATA"):
        env[f"TIMBRELAB_{name}_DIR"] = str(tmp_path / name.lower())
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.app.test_studio_xvfb",
            str(folder),
            str(artifacts_dir),
            str(report_path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_MS / 1000 + 30,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["error"] is None
    assert report["controls"] >= 1
    assert report["exported"] == 4
    assert report["loss_points"] >= 2
    assert (tmp_path / "exports").is_dir()
    for name in SHOTS:
        assert (artifacts_dir / f"{name}.png").stat().st_size > 10_000, name


def _child(folder: str, artifacts: str, report_path: str) -> int:
    from PySide6.QtCore import QTimer

    from app.main import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings

    app = create_application()
    window = MainWindow(AppSettings())
    window.setGeometry(app.primaryScreen().availableGeometry())
    window.restore_layout()
    window.show()
    studio, explore, training, view = (
        window.studio,
        window.studio.explore,
        window.studio.training,
        window.sound_view,
    )
    explore.autoplay.setChecked(False)
    report: dict[str, object] = {"error": None}

    def shot(name: str) -> None:
        app.primaryScreen().grabWindow(0).save(str(Path(artifacts) / f"{name}.png"))

    def after_drawn(then) -> None:
        def once() -> None:
            view.analysisReady.disconnect(once)
            QTimer.singleShot(600, then)

        view.analysisReady.connect(once)

    def first_launch() -> None:
        report["model"] = explore.model_id
        report["controls"] = len(explore.values)
        shot("studio_first_launch")
        window.open_folder(folder)
        explore.seed_box.setValue(5)
        after_drawn(explore_state)
        explore.randomise()

    def explore_state() -> None:
        explore.set_corner(1, explore.values, "current")
        after_drawn(explore_shot)
        explore.morph_to(0.35, 0.3)

    def explore_shot() -> None:
        shot("studio_explore")
        dialog = studio.open_export_dialog()
        dialog.folder_edit.setText(str(Path(report_path).parent / "exports"))
        dialog.count_box.setValue(4)
        dialog.start()
        dialog.task.succeeded.connect(lambda _r: QTimer.singleShot(400, export_shot))

    def export_shot() -> None:
        dialog = studio.export_dialog
        report["exported"] = len(dialog.result.files)
        shot("studio_export_dialog")
        dialog.reject()
        training.set_data_folder(folder)
        training.set_family("vae")
        training.set_custom(steps=400, settings=TINY_VAE)
        training.start()
        poll_training()

    def poll_training() -> None:
        points = training.loss_points().get("loss", 0)
        if points >= 4:
            report["loss_points"] = points
            QTimer.singleShot(300, training_shot)
        else:
            QTimer.singleShot(250, poll_training)

    def training_shot() -> None:
        shot("studio_training")
        training.stop_and_wait()
        finish(0)

    def finish(code: int) -> None:
        if code != 0:
            report["error"] = "timed out"
        Path(report_path).write_text(json.dumps(report))
        if training.is_running():
            training.process.kill()
            training.process.waitForFinished(5000)
        window.close()
        app.exit(code)

    first = {"done": False}

    def on_first_sound(*_args) -> None:
        if not first["done"]:
            first["done"] = True
            after_drawn(first_launch)

    explore.soundGenerated.connect(on_first_sound)
    QTimer.singleShot(TIMEOUT_MS, lambda: finish(1))
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(_child(*sys.argv[1:4]))
