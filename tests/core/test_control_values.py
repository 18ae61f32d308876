"""Control values, the explore panel's core: random draws, the four-corner morph, presets."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synth_core.control_values import (
    Preset,
    load_preset,
    morph_values,
    morph_weights,
    random_values,
    save_preset,
)
from synth_core.errors import ModelConfigError
from synth_core.models.base import Control

CONTROLS = [
    Control("decay", "Decay", 0.05, 10.0, 1.0, unit="s", curve="log"),
    Control("axis_1", "Axis 1", -3.0, 3.0, 0.0, unit="σ"),
    Control("axis_2", "Axis 2", -3.0, 3.0, 0.0, unit="σ"),
]
CORNERS = [
    {"decay": 0.1, "axis_1": -2.0, "axis_2": 1.0},
    {"decay": 8.0, "axis_1": 2.0, "axis_2": 0.3},
    {"decay": 0.7, "axis_1": 0.1, "axis_2": -1.7},
    {"decay": 3.3, "axis_1": -0.4, "axis_2": 2.9},
]


def test_random_draws_stay_within_two_sigma_and_repeat_with_their_seed():
    draws = [random_values(CONTROLS, seed=s) for s in range(200)]
    assert random_values(CONTROLS, seed=5) == draws[5]
    assert draws[5] != draws[6]
    for draw in draws:
        assert -2.0 <= draw["axis_1"] <= 2.0
        assert 0.05 <= draw["decay"] <= 10.0
    spread = {round(d["axis_1"], 1) for d in draws}
    assert len(spread) > 20


@pytest.mark.parametrize(("corner", "x", "y"), [(0, 0, 0), (1, 1, 0), (2, 0, 1), (3, 1, 1)])
def test_the_pad_corners_give_back_the_corner_settings_exactly(corner, x, y):
    assert morph_values(CONTROLS, CORNERS, x, y) == CORNERS[corner]


def test_the_pad_centre_mixes_all_four_corners_evenly():
    mixed = morph_values(CONTROLS, CORNERS, 0.5, 0.5)
    assert mixed["axis_1"] == pytest.approx(sum(c["axis_1"] for c in CORNERS) / 4)
    # log controls mix on the slider's travel: the geometric mean
    expected = (0.1 * 8.0 * 0.7 * 3.3) ** 0.25
    assert mixed["decay"] == pytest.approx(expected, rel=1e-9)


@given(st.floats(0, 1), st.floats(0, 1))
def test_morph_weights_are_a_partition_of_one(x, y):
    weights = morph_weights(x, y)
    assert sum(weights) == pytest.approx(1.0)
    assert all(w >= 0 for w in weights)


def test_a_preset_round_trips_and_refuses_another_model(tmp_path):
    preset = Preset(model="runs/a", family="vae", values={"axis_1": 1.5}, seed=9, pitch=62.0)
    path = save_preset(preset, tmp_path / "bright.json")
    loaded = load_preset(path, model="runs/a", family="vae", controls=CONTROLS)
    assert loaded == preset
    with pytest.raises(ModelConfigError, match="belongs to the model 'runs/a'"):
        load_preset(path, model="runs/b", family="vae", controls=CONTROLS)


def test_a_broken_or_unfitting_preset_is_a_clear_error(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ModelConfigError, match="not a Timbre Lab preset"):
        load_preset(broken, model="m", family="vae", controls=CONTROLS)
    unfitting = tmp_path / "unfitting.json"
    unfitting.write_text(json.dumps({"model": "m", "family": "vae", "values": {"axis_9": 1}}))
    with pytest.raises(ModelConfigError, match="does not fit this model"):
        load_preset(unfitting, model="m", family="vae", controls=CONTROLS)
