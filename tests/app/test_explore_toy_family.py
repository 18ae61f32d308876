"""A family the app has never heard of (the toy of ``tests/support/toy_family.py``) plays in the
explore panel: the panel builds its sliders from the model, asks it what it can do, and renders a
new sound when a slider moves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.panels.explore import ExplorePanel
from synth_core.dataset import ClipSet
from synth_core.errors import TimbreLabError
from synth_core.train import Budget, Trainer, build_learner

WAIT_MS = 20_000


@pytest.fixture
def toy_model(toy_family):
    """A toy model trained for five steps on six tones (well under a second)."""
    import torch

    t = torch.arange(8000) / 16000
    audio = torch.stack([0.4 * torch.sin(2 * torch.pi * 110 * (i + 1) * t) for i in range(6)])
    unknown_pitch = torch.full((6,), float("nan"))
    clips = ClipSet(audio, unknown_pitch, [Path(f"tone{i}.wav") for i in range(6)], 16000)
    model = build_learner("toy", settings={"sample_rate": 16000, "clip_seconds": 0.5})
    Trainer(model, clips, Budget(steps=5), device="cpu", batch_size=3).run()
    return model


def test_moving_the_toy_models_slider_plays_a_new_sound(qtbot, toy_model, tmp_path):
    panel = ExplorePanel()
    panel.autoplay.setChecked(False)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.soundGenerated, timeout=WAIT_MS) as first:
        panel.set_model(toy_model, "toy")
    assert list(panel._rows) == ["noise"]
    assert panel.primer_box.isHidden() and panel.pitch_box.isHidden()

    with qtbot.waitSignal(panel.soundGenerated, timeout=WAIT_MS) as moved:
        panel._rows["noise"].slider.setValue(panel._rows["noise"].slider.maximum())
    samples, rate = moved.args
    assert rate == 16000 and panel.values["noise"] == 1.0
    assert not np.allclose(samples, first.args[0])
    expected = toy_model.generate(panel.values, n=1, seed=panel.seed, pitch=panel.pitch)
    np.testing.assert_array_equal(samples, expected[0].numpy())

    # the toy has no encoder: a dropped sound is refused with the model's answer, not a crash
    sf.write(tmp_path / "drop.wav", samples, 16000)
    with pytest.raises(TimbreLabError, match="toy family has no encoder"):
        panel.encode_file(tmp_path / "drop.wav")
    panel.shutdown()
