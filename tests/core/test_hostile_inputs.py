"""Hostile and absurd files meet one clear error, never a hang, a traceback or a huge allocation.

A model folder whose files are folders, pipes, devices or ten gigabytes; configs that ask for a
billion channels; tensors of another kind than the family stores; format versions and JSON that
are not what they claim; presets and sidecars with NaN, impossible pitches and 70-bit seeds.

Loading a hostile folder could hang or eat the machine on a build without these checks, so those
cases run in a child process with a 4 GiB address-space limit and an alarm per case.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as safetensors_bytes

from synth_core import checkpoint
from synth_core.control_values import Preset, load_preset, save_preset
from synth_core.errors import CheckpointError, ModelConfigError
from synth_core.export import ExportError, SoundRecipe, read_recipe
from synth_core.models.base import Control
from synth_core.models.gmm import TINY, GMMConfig, GMMModel
from synth_core.models.spectral import SpectralConfig

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
GIB = 1 << 30


def gmm_run(folder: Path) -> Path:
    """An untrained tiny gmm saved as a run directory: the cheapest real model to load."""
    model = GMMModel.from_config(GMMConfig.from_dict(TINY))
    return checkpoint.save_model(folder, model)


def edit_record(run: Path, **changes: object) -> None:
    data = json.loads((run / "model.json").read_text())
    data.update(changes)
    (run / "model.json").write_text(json.dumps(data))


# --- run directories loaded in a guarded child process ------------------------------------------

PROBE = textwrap.dedent(
    """
    import json, resource, signal, sys
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    from synth_core import checkpoint
    from synth_core.errors import TimbreLabError

    class Hang(Exception):
        pass

    def alarm(signum, frame):
        raise Hang()

    def load(target):
        kind, path = target.split(":", 1)
        if kind == "sidecar":
            from synth_core.export import read_recipe
            return read_recipe(path)
        if kind == "preset":
            from synth_core.control_values import load_preset
            return load_preset(path, model="m", family="gmm", controls=[])
        return checkpoint.read_model(path)

    signal.signal(signal.SIGALRM, alarm)
    for run in sys.argv[1:]:
        signal.alarm(10)
        try:
            load(run)
            outcome = {"outcome": "loaded"}
        except TimbreLabError as error:
            outcome = {"outcome": "error", "type": type(error).__name__,
                       "exit_code": error.exit_code, "message": str(error)}
        except Hang:
            outcome = {"outcome": "hang"}
        except BaseException as error:
            outcome = {"outcome": "crash", "type": type(error).__name__}
        signal.alarm(0)
        print(json.dumps({"run": run, **outcome}), flush=True)
    """
)


def _folder_as_model_json(run: Path) -> None:
    (run / "model.json").unlink()
    (run / "model.json").mkdir()


def _fifo_as_model_json(run: Path) -> None:
    (run / "model.json").unlink()
    os.mkfifo(run / "model.json")


def _fifo_as_weights(run: Path) -> None:
    (run / "weights.safetensors").unlink()
    os.mkfifo(run / "weights.safetensors")


def _zero_device_as_weights(run: Path) -> None:
    (run / "weights.safetensors").unlink()
    (run / "weights.safetensors").symlink_to("/dev/zero")


def _random_device_as_model_json(run: Path) -> None:
    (run / "model.json").unlink()
    (run / "model.json").symlink_to("/dev/urandom")


def _ten_gigabyte_model_json(run: Path) -> None:
    os.truncate(run / "model.json", 10 * GIB)  # sparse: no disk used


def _ten_gigabyte_weights(run: Path) -> None:
    os.truncate(run / "weights.safetensors", 10 * GIB)


def _header_claiming_more_than_the_file(run: Path) -> None:
    data = (run / "weights.safetensors").read_bytes()
    (run / "weights.safetensors").write_bytes((2**62).to_bytes(8, "little") + data[8:])


def _tensor_offsets_past_the_end(run: Path) -> None:
    data = (run / "weights.safetensors").read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [10**12]
    header[name]["data_offsets"] = [0, 4 * 10**12]
    text = json.dumps(header).encode()
    (run / "weights.safetensors").write_bytes(
        len(text).to_bytes(8, "little") + text + data[8 + length :]
    )


def _a_billion_channels(run: Path) -> None:
    edit_record(run, family="cnn", config={"channels": 10**9})


def _hop_of_one_sample_for_a_minute(run: Path) -> None:
    config = {"hop": 1, "clip_seconds": 60.0, "sample_rate": 192000, "n_fft": 16384}
    edit_record(run, family="cnn", config=config)


def _nan_sample_rate(run: Path) -> None:
    (run / "model.json").write_text(
        (run / "model.json").read_text().replace('"step": 0', '"step": 0, "sample_rate": NaN', 1)
    )


def _deep_nesting(run: Path) -> None:
    (run / "model.json").write_text("[" * 100_000)


def _step_that_is_not_a_count_in_the_header(run: Path) -> None:
    model = GMMModel.from_config(GMMConfig.from_dict(TINY))
    tensors = {k: v.contiguous() for k, v in model.state().items()}
    (run / "weights.safetensors").write_bytes(safetensors_bytes(tensors, metadata={"step": "x"}))


# (what is wrong, how to make it, words the error must say)
HOSTILE_FOLDERS = [
    ("model.json is a folder", _folder_as_model_json, "folder"),
    ("model.json is a named pipe", _fifo_as_model_json, "named pipe"),
    ("weights are a named pipe", _fifo_as_weights, "named pipe"),
    ("weights are a link to /dev/zero", _zero_device_as_weights, "device"),
    ("model.json is a link to /dev/urandom", _random_device_as_model_json, "device"),
    ("model.json is 10 GB", _ten_gigabyte_model_json, "at most 16.0 MiB"),
    ("weights are 10 GB", _ten_gigabyte_weights, "at most 2048.0 MiB"),
    ("header claims 2**62 bytes", _header_claiming_more_than_the_file, "header claims"),
    ("tensor offsets past the end", _tensor_offsets_past_the_end, "data_offsets"),
    (
        "config asks for 10**9 channels",
        _a_billion_channels,
        "channels 1000000000 is outside 1–2048",
    ),
    ("config asks for a 1-sample hop", _hop_of_one_sample_for_a_minute, "a spectrogram"),
    ("sample_rate is NaN", _nan_sample_rate, "sample_rate"),
    ("model.json nested 100000 deep", _deep_nesting, "nested"),
    ("header step is not a count", _step_that_is_not_a_count_in_the_header, "not a count"),
]


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every hostile folder, loaded once each in one guarded child process."""
    if not (hasattr(os, "mkfifo") and Path("/dev/zero").exists()):
        pytest.skip("needs named pipes and /dev/zero")
    root = tmp_path_factory.mktemp("hostile")
    runs = {}
    for index, (what, spoil, _words) in enumerate(HOSTILE_FOLDERS):
        run = gmm_run(root / f"run{index}")
        spoil(run)
        runs[f"run:{run}"] = what
    for what, (kind, device) in HOSTILE_DEVICES.items():
        (root / f"{kind}.json").symlink_to(device)
        runs[f"{kind}:{root / f'{kind}.json'}"] = what
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *runs],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    results = {}
    for line in done.stdout.splitlines():
        entry = json.loads(line)
        results[runs[entry.pop("run")]] = entry
    return results


# a sidecar or preset that is a device: read on, it would fill the memory
HOSTILE_DEVICES = {
    "sidecar is a link to /dev/zero": ("sidecar", "/dev/zero"),
    "preset is a link to /dev/urandom": ("preset", "/dev/urandom"),
}


@pytest.mark.parametrize(("what", "words"), [(w, words) for w, _s, words in HOSTILE_FOLDERS])
def test_a_hostile_model_folder_is_one_checkpoint_error_in_time(what, words, probed):
    outcome = probed.get(what, {"outcome": "never reached (an earlier case killed the loader)"})
    assert outcome["outcome"] == "error", outcome
    assert outcome["type"] == "CheckpointError"
    assert outcome["exit_code"] == 2
    assert words in outcome["message"]
    assert "\n" not in outcome["message"]


@pytest.mark.parametrize(
    ("what", "error"),
    [
        ("sidecar is a link to /dev/zero", "ExportError"),
        ("preset is a link to /dev/urandom", "ModelConfigError"),
    ],
)
def test_a_sidecar_or_preset_that_is_a_device_is_refused_without_reading_it(what, error, probed):
    outcome = probed.get(what, {"outcome": "never reached (an earlier case killed the loader)"})
    assert outcome["outcome"] == "error", outcome
    assert outcome["type"] == error
    assert "is a device, not a file" in outcome["message"]


@needs_fifo
def test_generate_on_a_run_whose_weights_are_a_pipe_exits_2_at_once(tmp_path: Path):
    run = gmm_run(tmp_path / "run")
    _fifo_as_weights(run)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "synth_core", "generate", str(run), "--n", "1",
             "--out", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("timbrelab generate hung on a named pipe")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "weights.safetensors: is a named pipe, not a file" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# --- configs: every size a file can ask for is bounded --------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("channels", 10**9, "channels 1000000000 is outside 1–2048"),
        ("latent_channels", 10**6, "latent_channels 1000000 is outside 1–256"),
        ("batch_size", 10**9, "batch_size 1000000000 is outside 1–1024"),
        ("n_fft", 2**40, "n_fft 1099511627776 must be a power of two from 64 to 16384"),
        ("n_controls", 10**6, "n_controls 1000000 is outside 1–64"),
        ("channels", 16.5, "expected a whole number"),
        ("sample_rate", float("nan"), "expected a finite number"),
        ("clip_seconds", 10**400, "is outside any allowed range"),
    ],
)
def test_a_config_asking_for_an_absurd_size_names_the_setting_and_its_range(setting, value, words):
    with pytest.raises(ModelConfigError) as raised:
        SpectralConfig.from_dict({setting: value})
    assert words in str(raised.value)


def test_sizes_that_are_each_allowed_but_multiply_to_terabytes_are_refused():
    config = {"hop": 1, "clip_seconds": 60.0, "sample_rate": 192000, "n_fft": 16384}
    with pytest.raises(ModelConfigError, match="a spectrogram .* would hold 94,383,368,193 values"):
        SpectralConfig.from_dict(config)
    config = {"hop": 256, "clip_seconds": 60.0, "sample_rate": 192000, "n_fft": 4096}
    with pytest.raises(ModelConfigError, match="the PCA basis .* would hold 2,950,625,568 values"):
        SpectralConfig.from_dict(config)


def _numeric_settings() -> list[tuple[str, type, str]]:
    from synth_core.models import available_families

    found = []
    for family in available_families():
        config_class = family.model_class.config_class
        for field in dataclasses.fields(config_class):
            default = field.default
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                found.append((family.name, config_class, field.name))
    return found


@pytest.mark.parametrize(("family", "config_class", "setting"), _numeric_settings())
def test_every_number_a_model_file_can_set_has_a_bound_that_names_it(family, config_class, setting):
    huge = 10**30 if setting == "seed" else 10**12  # a seed may be any 63-bit number
    for value in (huge, -huge, float("nan")):
        with pytest.raises(ModelConfigError, match=setting):
            config_class.from_dict({setting: value})


def test_a_seed_of_seventy_bits_in_a_gmm_config_is_refused():
    with pytest.raises(ModelConfigError, match="seed.* is outside"):
        GMMConfig.from_dict({"seed": 2**70})


# --- tensors of the wrong kind --------------------------------------------------------------------


def _replace_tensor(run: Path, name: str, tensor: torch.Tensor) -> None:
    tensors, _step = checkpoint.read_weights(run)
    tensors[name] = tensor
    data = safetensors_bytes(
        {k: v.contiguous() for k, v in tensors.items()}, metadata={"step": "0"}
    )
    (run / "weights.safetensors").write_bytes(data)


@pytest.mark.parametrize(
    ("name", "tensor", "words"),
    [
        ("pca_mean", torch.zeros(9688, dtype=torch.float64), "tensor 'pca_mean' is float64"),
        ("means", torch.zeros(2, 4, dtype=torch.int8), "tensor 'means' is int8"),
        (
            "covariances",
            torch.zeros(2, 5, 5, dtype=torch.float64),
            "tensor 'covariances' has shape",
        ),
        ("weights", torch.zeros(2, 2, dtype=torch.float64), "tensor 'weights' has shape [2, 2]"),
    ],
)
def test_weights_of_another_dtype_or_shape_name_the_tensor_and_the_file(
    tmp_path: Path, name, tensor, words
):
    run = gmm_run(tmp_path / "run")
    _replace_tensor(run, name, tensor)
    with pytest.raises(CheckpointError) as raised:
        checkpoint.read_model(run)
    assert words in str(raised.value)
    assert "weights.safetensors" in str(raised.value)


# --- model.json that is not what it claims ----------------------------------------------------------


@pytest.mark.parametrize("version", [-1, 0, True, "1", 1.5, None, [1]])
def test_a_format_version_that_is_not_a_version_number_is_refused(tmp_path: Path, version):
    run = gmm_run(tmp_path / "run")
    edit_record(run, format_version=version)
    with pytest.raises(CheckpointError, match="format_version"):
        checkpoint.read_record(run)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sample_rate", 1e999),
        ("sample_rate", True),
        ("step", -5),
        ("step", 10**30),
        ("family", ["gmm"]),
        ("config", [["components", 2]]),
        ("metrics", "fine"),
    ],
)
def test_a_record_field_of_the_wrong_type_names_the_field(tmp_path: Path, field, value):
    run = gmm_run(tmp_path / "run")
    text = json.dumps({**json.loads((run / "model.json").read_text()), field: value})
    (run / "model.json").write_text(text)
    with pytest.raises(CheckpointError, match=field):
        checkpoint.read_model(run)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "holds an array"),
        (b'"model"', "holds a string"),
        (b"{" * 50_000, "nested"),
        (b'{"a": ' * 5_000 + b"1" + b"}" * 5_000, "nested 5000 levels"),
    ],
)
def test_model_json_that_is_not_a_json_object_is_refused(tmp_path: Path, content, words):
    run = gmm_run(tmp_path / "run")
    (run / "model.json").write_bytes(content)
    with pytest.raises(CheckpointError, match=words):
        checkpoint.read_model(run)


def test_history_lines_that_are_not_step_records_are_skipped(tmp_path: Path):
    run = gmm_run(tmp_path / "run")
    lines = [b"[" * 100_000, b'"text"', b'{"step": "7"}', b'{"step": 3, "loss": 1}', b"\xff{}"]
    (run / "history.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    assert checkpoint.read_history(run) == [{"step": 3, "loss": 1}]


# --- presets and sidecars ----------------------------------------------------------------------------

CONTROLS = [Control("axis_1", "Axis 1", -3.0, 3.0, 0.0, "σ")]


def _preset_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "preset.json"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ('"pitch": NaN', "pitch is nan"),
        ('"pitch": 1e308', "pitch 1e+308 is outside 0–127"),
        ('"pitch": 128', "pitch 128 is outside 0–127"),
        ('"pitch": -1', "pitch -1 is outside 0–127"),
        ('"seed": 2147483648', "seed 2147483648 is outside"),
        ('"seed": 1.5', "seed must be a whole number"),
        ('"seed": -1', "seed -1 is outside"),
        ('"format_version": true', "format_version True is not a format version"),
        ('"format_version": -3', "format_version -3 is not a format version"),
        ('"values": {"axis_1": Infinity}', "not a finite number"),
        ('"values": {"axis_1": true}', "must be a number"),
        ('"values": [1]', "must be an object of control values"),
        ('"model": 5', "model must be a string"),
    ],
)
def test_a_preset_with_an_impossible_value_is_refused_naming_it(tmp_path: Path, change, words):
    fields = {"model": '"m"', "family": '"vae"', "values": '{"axis_1": 1.0}', "seed": "3"}
    key = change.split(":", 1)[0].strip('"')
    fields[key] = change.split(":", 1)[1]
    text = "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"
    with pytest.raises(ModelConfigError) as raised:
        load_preset(_preset_file(tmp_path, text), model="m", family="vae", controls=CONTROLS)
    assert words in str(raised.value)


def test_a_preset_file_nested_too_deep_or_special_is_refused(tmp_path: Path):
    with pytest.raises(ModelConfigError, match="nested"):
        load_preset(
            _preset_file(tmp_path, "[" * 100_000), model="m", family="vae", controls=CONTROLS
        )
    with pytest.raises(ModelConfigError, match="is a folder"):
        load_preset(tmp_path, model="m", family="vae", controls=CONTROLS)


def test_a_preset_round_trips_with_a_fractional_pitch_and_the_largest_seed(tmp_path: Path):
    preset = Preset(model="m", family="vae", values={"axis_1": -3.0}, seed=2**31 - 1, pitch=60.5)
    path = save_preset(preset, tmp_path / "edge.json")
    assert load_preset(path, model="m", family="vae", controls=CONTROLS) == preset


def _sidecar(tmp_path: Path, **changes: object) -> Path:
    data = {
        "format_version": 1,
        "model": "physical:string",
        "family": "physical",
        "controls": {"decay": 1.5},
        "seed": 42,
        "pitch": 64.0,
        "n": 1,
        "extra": {},
    }
    data.update(changes)
    path = tmp_path / "sound.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"seed": 2**64}, "seed 18446744073709551616 is outside 0–18446744073709551615"),
        ({"seed": -1}, "seed -1 is outside"),
        ({"seed": 4.5}, "seed must be a whole number"),
        ({"pitch": float("nan")}, "pitch is nan"),
        ({"pitch": 1e300}, "pitch 1e+300 is outside 0–127"),
        ({"controls": {"decay": float("inf")}}, "not a finite number"),
        ({"controls": {"decay": "loud"}}, "must be a number"),
        ({"format_version": 1.0}, "format_version 1.0 is not a format version"),
        ({"n": 10**12}, "n 1000000000000 is outside"),
        ({"extra": [1]}, "extra must be an object"),
    ],
)
def test_a_sidecar_with_an_impossible_value_is_refused_naming_it(tmp_path: Path, changes, words):
    with pytest.raises(ExportError) as raised:
        read_recipe(_sidecar(tmp_path, **changes))
    assert words in str(raised.value)


def test_a_sidecar_nested_too_deep_is_refused(tmp_path: Path):
    path = tmp_path / "deep.json"
    path.write_text('{"model": ' + "[" * 100_000)
    with pytest.raises(ExportError, match="not a Timbre Lab sidecar: is not valid JSON here"):
        read_recipe(path)


def test_a_sidecar_with_the_largest_seed_still_reads(tmp_path: Path):
    recipe = read_recipe(_sidecar(tmp_path, seed=2**64 - 1))
    assert recipe == SoundRecipe(
        model="physical:string",
        family="physical",
        controls={"decay": 1.5},
        seed=2**64 - 1,
        pitch=64.0,
        n=1,
        extra={},
    )
