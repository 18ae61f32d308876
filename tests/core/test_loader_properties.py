"""Whatever a file holds, loading it ends in a loaded model or one of Timbre Lab's own errors.

Property-based (hypothesis, 1000 examples each): a run directory whose ``model.json`` is random
bytes, random JSON or a mutated real one, or whose ``weights.safetensors`` header is mutated; a
preset and an export sidecar made of random JSON. Each example is written to a fresh temporary
folder and loaded; any exception other than a :class:`~synth_core.errors.TimbreLabError`
subclass fails the property. The run directory is a tiny gmm, the cheapest family to build.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synth_core import checkpoint
from synth_core.control_values import load_preset
from synth_core.errors import TimbreLabError
from synth_core.export import read_recipe
from synth_core.models.base import Control
from synth_core.models.gmm import TINY, GMMConfig, GMMModel

PROPERTY = settings(
    max_examples=1000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# JSON values a hand edit or a hostile writer could produce: NaN and ±Infinity (which Python's
# json writes and reads), integers beyond 64 bits, deep-ish nesting, odd strings
nasty = st.sampled_from(
    [math.nan, math.inf, -math.inf, 1e308, 10**30, -(10**30), 2**63, 2**64, -1, 0, 0.5, True]
    + ["1", "", "gmm", None, [], {}]
)
scalars = (
    nasty
    | st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1, -1, 2**31, 2**63, 2**64, 10**9, 10**30])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


class RunFiles(dict):
    """File contents by name, shown by name only in hypothesis's failure reports."""

    def __repr__(self) -> str:
        return f"RunFiles({', '.join(self)})"


@pytest.fixture(scope="module")
def valid_run(tmp_path_factory: pytest.TempPathFactory) -> RunFiles:
    """The files of a real (untrained) tiny gmm run directory, by name."""
    run = checkpoint.save_model(
        tmp_path_factory.mktemp("valid") / "run", GMMModel.from_config(GMMConfig.from_dict(TINY))
    )
    return RunFiles(
        {name: (run / name).read_bytes() for name in ("model.json", "weights.safetensors")}
    )


def load_only_our_errors(files: dict[str, bytes]) -> None:
    """Write ``files`` into a fresh run directory and load it; only our errors may come out."""
    with tempfile.TemporaryDirectory() as folder:
        for name, data in files.items():
            (Path(folder) / name).write_bytes(data)
        with contextlib.suppress(TimbreLabError):
            checkpoint.read_model(folder)


def _mutate(value: Any, path: list[Any], replacement: Any) -> Any:
    """``value`` with the item at ``path`` (keys/indices, taken modulo what exists) replaced."""
    if not path or not isinstance(value, (dict, list)) or not value:
        return replacement
    step, rest = path[0], path[1:]
    if isinstance(value, dict):
        keys = list(value)
        key = keys[step % len(keys)] if isinstance(step, int) else step
        return {**value, key: _mutate(value.get(key), rest, replacement)}
    index = step % len(value) if isinstance(step, int) else 0
    return [*value[:index], _mutate(value[index], rest, replacement), *value[index + 1 :]]


RECORD_KEYS = [*checkpoint.RunRecord("gmm", {}, 44100).to_dict(), "unknown"]
CONFIG_KEYS = [*GMMConfig().to_dict(), "unknown"]
# where to change a model.json: a top-level field, a config setting, or anywhere at random
paths = (
    st.tuples(st.sampled_from(RECORD_KEYS)).map(list)
    | st.tuples(st.just("config"), st.sampled_from(CONFIG_KEYS)).map(list)
    | st.lists(st.integers(min_value=0, max_value=40), max_size=3)
)
TENSOR_NAMES = [*GMMModel.from_config(GMMConfig.from_dict(TINY)).state(), "__metadata__"]
# where to change a safetensors header: one field of one tensor entry, or anywhere at random
header_paths = st.tuples(
    st.sampled_from(TENSOR_NAMES), st.sampled_from(["dtype", "shape", "data_offsets", "step"])
).map(list) | st.lists(st.integers(min_value=0, max_value=40), max_size=3)


@PROPERTY
@given(data=st.binary(max_size=300))
def test_model_json_of_random_bytes_is_only_ever_our_error(valid_run, data):
    load_only_our_errors({**valid_run, "model.json": data})


@PROPERTY
@given(value=json_values)
def test_model_json_of_random_json_is_only_ever_our_error(valid_run, value):
    load_only_our_errors({**valid_run, "model.json": json.dumps(value).encode()})


@PROPERTY
@given(path=paths, replacement=json_values)
def test_a_mutated_real_model_json_is_only_ever_our_error(valid_run, path, replacement):
    record = json.loads(valid_run["model.json"])
    mutated = _mutate(record, path, replacement)
    load_only_our_errors({**valid_run, "model.json": json.dumps(mutated).encode()})


def _split_tensors(data: bytes) -> tuple[dict, bytes]:
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + length]), data[8 + length :]


@PROPERTY
@given(
    path=header_paths,
    replacement=st.sampled_from(["F64", "I8", "BOOL", "F16", "X9", [1, 2], [0, 0], [9688]])
    | json_values,
    length_change=st.sampled_from([0, 0, 0, 1, -1, 2**40]),
    cut=st.integers(min_value=0, max_value=64),
)
def test_a_mutated_safetensors_header_is_only_ever_our_error(
    valid_run, path, replacement, length_change, cut
):
    header, body = _split_tensors(valid_run["weights.safetensors"])
    mutated = json.dumps(_mutate(header, path, replacement)).encode()
    length = max(0, len(mutated) + length_change)
    data = length.to_bytes(8, "little") + mutated + body[: len(body) - cut]
    load_only_our_errors({**valid_run, "weights.safetensors": data})


CONTROLS = [
    Control("axis_1", "Axis 1", -3.0, 3.0, 0.0, "σ"),
    Control("decay", "Decay", 0.1, 4.0, 1.0),
]
PRESET_KEYS = ("format_version", "model", "family", "values", "seed", "pitch", "name")
SIDECAR_KEYS = ("format_version", "model", "family", "controls", "seed", "pitch", "n", "extra")
control_maps = st.dictionaries(
    st.sampled_from(["axis_1", "decay", "x"]), st.floats(0.1, 3) | json_values, max_size=3
)


# values that pass the identity checks often enough for the field checks behind them to run
LIKELY = {
    "values": control_maps,
    "controls": control_maps,
    "model": st.just("m") | json_values,
    "family": st.just("vae") | json_values,
    "pitch": st.floats(0, 127) | json_values,
    "seed": st.integers(min_value=0, max_value=2**70) | json_values,
    "format_version": st.just(1) | json_values,
}


def _document(keys: tuple[str, ...], required: tuple[str, ...]) -> st.SearchStrategy[dict]:
    """Objects with the real keys holding random JSON: ``required`` ones always there (so the
    checks behind them run) or, as often, any of them missing."""
    every = {key: LIKELY.get(key, json_values) for key in keys}
    complete = st.fixed_dictionaries(
        {key: every[key] for key in required},
        optional={key: every[key] for key in keys if key not in required},
    )
    return complete | st.fixed_dictionaries({}, optional=every)


def _write(folder: str, name: str, value: Any) -> Path:
    path = Path(folder) / name
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


@PROPERTY
@given(value=_document(PRESET_KEYS, ("model", "family", "values")) | json_values)
def test_a_preset_of_random_json_is_only_ever_our_error(value):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, "preset.json", value)
        try:
            preset = load_preset(path, model="m", family="vae", controls=CONTROLS)
        except TimbreLabError:
            return
        assert all(math.isfinite(v) for v in preset.values.values())
        assert preset.pitch is None or 0 <= preset.pitch <= 127
        assert 0 <= preset.seed < 2**31


@PROPERTY
@given(value=_document(SIDECAR_KEYS, ("model", "family", "controls", "seed")) | json_values)
def test_a_sidecar_of_random_json_is_only_ever_our_error(value):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, "sound.json", value)
        try:
            recipe = read_recipe(path)
        except TimbreLabError:
            return
        assert all(math.isfinite(v) for v in recipe.controls.values())
        assert recipe.pitch is None or 0 <= recipe.pitch <= 127
        assert 0 <= recipe.seed < 2**64
