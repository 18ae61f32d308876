"""The explore panel with a real tiny model: sliders, undo, morph pad, presets, encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from app.panels.explore import ExplorePanel
from app.panels.explore_pitch import is_pitch_conditioned
from app.views.sound_view import SoundView
from synth_core import cli
from synth_core.checkpoint import read_model
from synth_core.errors import ModelConfigError

WAIT_MS = 20_000


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A VAE trained for two steps on eight generated tones (a few seconds on one core)."""
    root = tmp_path_factory.mktemp("explore")
    folder = root / "sounds"
    folder.mkdir()
    t = np.arange(22050) / 44100
    for i in range(8):
        tone = 0.5 * np.sin(2 * np.pi * 110 * 2 ** (i / 12) * t) * np.exp(-t * (3 + i))
        soundfile.write(folder / f"tone{i}__p{45 + i:03d}.wav", tone.astype(np.float32), 44100)
    run = root / "run"
    settings = [
        "channels=16",
        "latent_channels=2",
        "n_controls=4",
        "batch_size=4",
        "clip_seconds=0.5",
    ]
    argv = ["train", str(folder), "--family", "vae", "--out", str(run), "--steps", "2"]
    argv += ["--progress", "none"] + [a for s in settings for a in ("--set", s)]
    assert cli.main(argv) == 0
    return run


@pytest.fixture
def panel(qtbot, tiny_run) -> ExplorePanel:
    widget = ExplorePanel()
    widget.autoplay.setChecked(False)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.soundGenerated, timeout=WAIT_MS):
        widget.set_model(read_model(tiny_run), str(tiny_run))
    yield widget
    widget.shutdown()


def render(panel: ExplorePanel, values) -> np.ndarray:
    """What the model renders for ``values`` at the panel's seed and pitch."""
    return panel.model.generate(values, n=1, seed=panel.seed, pitch=panel.pitch)[0].numpy()


def test_one_slider_per_control_with_label_and_unit(panel):
    controls = panel.model.controls()
    assert list(panel._rows) == [c.name for c in controls]
    row = panel._rows["axis_1"]
    assert row.label.text().replace("\u00a0", " ") == controls[0].label
    assert row.field.suffix() == " σ"


def test_moving_a_slider_changes_the_sound_view(qtbot, panel):
    view = SoundView()
    qtbot.addWidget(view)
    panel.soundGenerated.connect(view.set_audio)
    with qtbot.waitSignal(view.analysisReady, timeout=WAIT_MS):
        panel.request_sound()
    before = np.array(view.waveform_curve.getData()[1])
    with qtbot.waitSignal(view.analysisReady, timeout=WAIT_MS):
        panel._rows["variation"].slider.setValue(0)
    after = np.array(view.waveform_curve.getData()[1])
    assert panel.values["variation"] == 0.0
    assert before.shape != after.shape or not np.allclose(before, after)
    np.testing.assert_array_equal(panel.last_sound[0], render(panel, panel.values))


def test_double_click_resets_and_undo_redo_walk_the_history(qtbot, panel):
    row = panel._rows["axis_1"]
    row.field.setValue(1.5)
    row.field.setValue(-2.0)
    assert panel.values["axis_1"] == -2.0
    qtbot.mouseDClick(row.slider, Qt.MouseButton.LeftButton)
    assert panel.values["axis_1"] == 0.0
    assert panel.undo_action.shortcut() == QKeySequence("Ctrl+Z")
    assert QKeySequence("Ctrl+Shift+Z") in panel.redo_action.shortcuts()
    panel.undo_action.trigger()
    assert panel.values["axis_1"] == -2.0
    panel.undo_action.trigger()
    assert panel.values["axis_1"] == 1.5
    panel.redo_action.trigger()
    assert panel.values["axis_1"] == -2.0
    assert row.field.value() == -2.0


def test_randomise_draws_from_the_seed_shown_and_reset_all_returns_to_defaults(panel):
    panel.seed_box.setValue(41)
    panel.randomise()
    first = panel.values
    assert panel.seed == 42
    assert any(v != 0 for k, v in first.items() if k.startswith("axis_"))
    assert all(-2 <= v <= 2 for v in first.values())
    panel.reset_all()
    panel.seed_box.setValue(41)
    panel.randomise()
    assert panel.values == first
    panel.reset_all()
    assert panel.values == {c.name: c.default for c in panel.model.controls()}


@pytest.mark.parametrize(
    ("corner", "x", "y"), [(0, 0.0, 0.0), (1, 1.0, 0.0), (2, 0.0, 1.0), (3, 1.0, 1.0)]
)
def test_morph_pad_corners_play_exactly_the_corner_sounds(qtbot, panel, corner, x, y):
    with qtbot.waitSignal(panel.soundGenerated, timeout=WAIT_MS) as done:
        panel.morph_to(x, y)
    expected = render(panel, panel.corner_values(corner))
    np.testing.assert_array_equal(done.args[0], expected)


def test_morph_pad_middle_is_a_new_sound_and_one_undo_step(qtbot, panel):
    panel.set_corner(0, {"axis_1": -2.0}, "low")
    panel.set_corner(3, {"axis_1": 2.0}, "high")
    with qtbot.waitSignal(panel.soundGenerated, timeout=WAIT_MS) as done:
        qtbot.mousePress(panel.pad, Qt.MouseButton.LeftButton, pos=panel.pad.rect().center())
        qtbot.mouseRelease(panel.pad, Qt.MouseButton.LeftButton, pos=panel.pad.rect().center())
    x, y = panel.pad.position
    assert 0.3 < x < 0.7 and 0.3 < y < 0.7
    assert panel.undo_stack.count() == 1
    corners = [panel.corner_values(k) for k in range(4)]
    for sound in (render(panel, c) for c in corners):
        assert not np.array_equal(done.args[0], sound)


def test_presets_round_trip_and_another_models_preset_is_refused(qtbot, panel, tmp_path):
    panel._rows["axis_2"].field.setValue(1.25)
    panel.seed_box.setValue(7)
    path = panel.save_preset(tmp_path / "warm.json")
    panel.reset_all()
    panel.seed_box.setValue(0)
    preset = panel.load_preset(path)
    assert preset.values["axis_2"] == 1.25
    assert panel.values["axis_2"] == 1.25
    assert panel.seed == 7
    other = path.read_text().replace(panel.model_id, "/elsewhere/run")
    (tmp_path / "other.json").write_text(other)
    with pytest.raises(ModelConfigError, match="belongs to the model '/elsewhere/run'"):
        panel.load_preset(tmp_path / "other.json")


def test_a_dropped_sound_sets_the_sliders_to_its_latent(panel, tiny_run, tmp_path):
    t = np.arange(22050) / 44100
    clip = (0.4 * np.sin(2 * np.pi * 220 * t) * np.exp(-5 * t)).astype(np.float32)
    soundfile.write(tmp_path / "drop.wav", clip, 44100, subtype="FLOAT")
    values = panel.encode_file(tmp_path / "drop.wav")
    assert values["variation"] == 0.0
    latent = panel.model.encode(torch.from_numpy(clip)[None])
    coords = panel.model.axes.to_coords(latent)[0]
    assert values["axis_1"] == pytest.approx(float(coords[0].clamp(-3, 3)), abs=1e-5)
    assert panel.values == values


def test_the_keyboard_shows_only_for_pitch_conditioned_models(panel):
    assert panel.pitch_box.isHidden() != is_pitch_conditioned(panel.model)


def test_a_physical_instrument_plays_the_note_chosen_on_the_keyboard(qtbot):
    from synth_core.runs import open_model as load_any

    widget = ExplorePanel()
    widget.autoplay.setChecked(False)
    qtbot.addWidget(widget)
    model = load_any("physical:string")
    with qtbot.waitSignal(widget.soundGenerated, timeout=WAIT_MS):
        widget.set_model(model, "physical:string")
    assert not widget.pitch_box.isHidden()
    assert widget.keyboard.note == 60
    with qtbot.waitSignal(widget.soundGenerated, timeout=WAIT_MS) as played:
        widget.keyboard.set_note(67, emit=True)
    assert widget.values["pitch"] == 67.0
    assert widget._rows["pitch"].value == 67.0
    expected = model.generate(widget.values, n=1, seed=widget.seed)[0].numpy()
    np.testing.assert_array_equal(played.args[0], expected)
    widget.undo_action.trigger()
    assert widget.keyboard.note == 60
    widget.shutdown()


def test_the_draw_row_switches_between_new_sounds_and_variations(qtbot, panel):
    """A model that draws new sounds shows the Draw row; a click switches to variations of a
    training sound (novelty 0), the status line says which it played, and undo switches back."""
    assert not panel.draw_bar.isHidden()
    assert panel.draw_bar.new_button.isChecked()
    assert panel.values["novelty"] == 1.0
    assert panel.status.text().startswith("New sound ·")
    with qtbot.waitSignal(panel.soundGenerated, timeout=WAIT_MS) as played:
        panel.draw_bar.variation_button.click()
    assert panel.values["novelty"] == 0.0
    assert panel.draw_bar.variation_button.isChecked()
    assert panel.status.text().startswith("Variation of a training sound ·")
    assert np.allclose(played.args[0], render(panel, panel.values), atol=1e-6)
    with qtbot.waitSignal(panel.soundGenerated, timeout=WAIT_MS):
        panel.undo_action.trigger()
    assert panel.values["novelty"] == 1.0 and panel.draw_bar.new_button.isChecked()


def test_the_draw_row_is_hidden_for_a_model_without_novelty(qtbot):
    from synth_core.runs import open_model

    widget = ExplorePanel()
    widget.autoplay.setChecked(False)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.soundGenerated, timeout=WAIT_MS):
        widget.set_model(open_model("physical:string"), "physical:string")
    assert widget.draw_bar.isHidden()
    assert widget.status.text()[0].isdigit()  # no "New sound" prefix
    widget.shutdown()
