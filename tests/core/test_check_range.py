"""``check_range``: the one range check behind every family config's ``validate``."""

from __future__ import annotations

import math

import pytest

from synth_core.errors import ModelConfigError
from synth_core.models.base import check_range
from synth_core.models.gan import GANConfig
from synth_core.models.gmm import GMMConfig
from synth_core.models.hmm import HMMConfig
from synth_core.models.rnn import RNNConfig


def test_values_inside_the_range_pass_including_both_ends() -> None:
    for value in (1, 2.5, 4):
        check_range("layers", value, 1, 4)
    check_range("learning_rate", 0.1, 0, 0.1, open_low=True)


@pytest.mark.parametrize(
    ("value", "low", "high", "options", "message"),
    [
        (5, 1, 4, {}, "layers 5 is outside 1–4"),
        (0, 1, 16, {"unit": "frames"}, "layers 0 is outside 1–16 frames"),
        (0, 0, 0.1, {"open_low": True}, r"layers 0 is outside \(0, 0.1\]"),
        (0.2, 0, 0.1, {"open_low": True}, r"layers 0.2 is outside \(0, 0.1\]"),
        (math.nan, 0, 1, {}, "layers nan is outside 0–1"),
        (130, 0.05, 120, {"unit": "s"}, "layers 130 is outside 0.05–120 s"),
    ],
)
def test_a_value_outside_is_named_with_its_range(value, low, high, options, message) -> None:
    with pytest.raises(ModelConfigError, match=f"^{message}$"):
        check_range("layers", value, low, high, **options)


@pytest.mark.parametrize(
    ("config", "setting", "message"),
    [
        (GMMConfig, {"covariance_floor": 0.0}, r"covariance_floor 0.0 is outside \(0, 1\]"),
        (HMMConfig, {"states": 1}, "states 1 is outside 2–16"),
        (RNNConfig, {"group": 20}, "group 20 is outside 1–16 frames"),
        (GANConfig, {"gan_learning_rate": 0.5}, r"gan_learning_rate 0.5 is outside \(0, 0.01\]"),
    ],
)
def test_family_configs_keep_their_messages(config, setting, message) -> None:
    with pytest.raises(ModelConfigError, match=f"^{message}$"):
        config.from_dict(setting)
