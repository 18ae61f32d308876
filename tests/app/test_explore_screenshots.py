"""Each family's explore panel in the real main window, with a screenshot for a person to look at.

Every starter model in ``resources/models`` and one physical instrument is loaded into the Explore
panel the way a user picks it from the model list; the first sound it generates is drawn in the
sound view. The window is grabbed to ``explore_<family>.png`` in the ``artifacts_dir`` folder
(offscreen rendering, so no X server is needed; ``test_studio_xvfb.py`` covers the real display).
``make screenshots`` writes them to ``docs/screenshots/``, where they are kept for the README and
reviewers; a plain test run writes them outside the repository.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from app.main_window import MainWindow

WAIT_MS = 20_000

#: model id -> (family, controls that only that family's panel shows)
MODELS = {
    "builtin-vae": ("vae", {"axis_1", "variation"}),
    "builtin-cnn": ("cnn", {"axis_1", "variation"}),
    "builtin-gmm": ("gmm", {"sound_type", "weight_1"}),
    "builtin-hmm": ("hmm", {"sharpness", "dwell_1"}),
    "builtin-rnn": ("rnn", {"temperature", "loudness"}),
    "builtin-gan": ("gan", {"variety", "axis_1"}),
    "physical:string": ("physical", {"pitch", "pick_position"}),
}


def image_spread(image: QImage) -> float:
    """Standard deviation of the grey levels: near 0 for a blank or black grab."""
    grey = image.convertToFormat(QImage.Format.Format_Grayscale8)
    data = np.frombuffer(grey.constBits(), dtype=np.uint8)
    rows = data.reshape(grey.height(), grey.bytesPerLine())[:, : grey.width()]
    return float(rows.std())


@pytest.fixture
def window(main_window: MainWindow, qtbot) -> MainWindow:
    """The main window once its first model has played (so no start-up sound arrives late)."""
    studio, view = main_window.studio, main_window.sound_view
    studio.explore.autoplay.setChecked(False)
    main_window.resize(1400, 900)
    qtbot.waitUntil(
        lambda: studio.explore.last_sound is not None and view.analysis is not None,
        timeout=WAIT_MS,
    )
    return main_window


def test_each_familys_explore_panel_shows_its_controls_and_plays(qtbot, window, artifacts_dir):
    studio, explore, view = window.studio, window.studio.explore, window.sound_view
    studio.explore_dock.show()
    studio.explore_dock.raise_()
    for model_id, (family, expected) in MODELS.items():
        # Both waits are armed before the load, so a fast analysis cannot slip past.
        with (
            qtbot.waitSignal(view.analysisReady, timeout=WAIT_MS),
            qtbot.waitSignal(explore.soundGenerated, timeout=WAIT_MS),
        ):
            studio.open_model(model_id)
        model = explore.model
        assert explore.model_id == model_id and model.family == family
        labels = {
            name: row.label.text().replace("\u00a0", " ") for name, row in explore._rows.items()
        }
        assert labels == {c.name: c.label for c in model.controls()}
        assert expected <= set(labels), (model_id, sorted(labels))
        assert explore.primer_box.isHidden() == (family != "rnn")

        samples, rate = explore.last_sound
        assert rate == model.sample_rate and np.sqrt(np.mean(np.square(samples))) > 1e-3
        assert view.duration_s == pytest.approx(len(samples) / rate)
        drawn = np.asarray(view.waveform_curve.getData()[1])
        assert drawn.size and np.abs(drawn).max() > 0.05, model_id

        qtbot.wait(50)  # let the spectrogram image and the rows lay out before the grab
        image = window.grab().toImage()
        assert image_spread(image) > 20, f"{model_id}: the window grab is nearly blank"
        assert image.save(str(artifacts_dir / f"explore_{family}.png"))
