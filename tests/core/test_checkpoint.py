"""A run directory is data: it round-trips, survives interrupted writes, and refuses what it
cannot trust (newer versions, corrupt or foreign files) with a clear CheckpointError."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from synth_core import checkpoint
from synth_core.errors import CheckpointError
from synth_core.models.cnn import CNNModel
from synth_core.models.spectral import SpectralConfig

TINY = SpectralConfig(
    sample_rate=22050, clip_seconds=0.25, channels=16, latent_channels=2, n_controls=2
)


def tiny_model() -> CNNModel:
    torch.manual_seed(0)
    return CNNModel.from_config(TINY)


def test_saved_model_loads_with_identical_weights_and_config(tmp_path: Path):
    model = tiny_model()
    checkpoint.save_model(tmp_path / "run", model, step=7, metrics={"loss": 0.5})
    loaded = checkpoint.read_model(tmp_path / "run")
    assert loaded.config == model.config
    for name, tensor in model.state().items():
        # NaN marks "not set" in some buffers (the harmonic axis of an unpitched model)
        torch.testing.assert_close(loaded.state()[name], tensor, rtol=0, atol=0, equal_nan=True)
    record = checkpoint.read_record(tmp_path / "run")
    assert (record.family, record.step, record.metrics) == ("cnn", 7, {"loss": 0.5})
    assert record.format_version == checkpoint.FORMAT_VERSION


def test_model_from_a_newer_format_version_is_refused_with_a_clear_message(tmp_path: Path):
    run = checkpoint.save_model(tmp_path / "run", tiny_model())
    data = json.loads((run / "model.json").read_text())
    data["format_version"] = checkpoint.FORMAT_VERSION + 1
    (run / "model.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="newer Timbre Lab"):
        checkpoint.read_model(run)


def test_pickle_disguised_as_weights_is_refused_without_being_executed(tmp_path: Path):
    run = checkpoint.save_model(tmp_path / "run", tiny_model())
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (run / checkpoint.WEIGHTS_FILE).write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match="safetensors"):
        checkpoint.read_model(run)
    assert not marker.exists()


def test_missing_folder_and_missing_model_json_are_named(tmp_path: Path):
    with pytest.raises(CheckpointError, match="no such folder"):
        checkpoint.read_record(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no model.json"):
        checkpoint.read_record(tmp_path / "empty")


def test_weights_of_another_shape_are_a_checkpoint_error(tmp_path: Path):
    run = checkpoint.save_model(tmp_path / "run", tiny_model())
    data = json.loads((run / "model.json").read_text())
    data["config"]["channels"] = 32
    (run / "model.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="do not fit"):
        checkpoint.read_model(run)


def test_a_write_that_dies_midway_leaves_the_previous_checkpoint_intact(tmp_path: Path):
    model = tiny_model()
    run = checkpoint.save_model(tmp_path / "run", model, step=1)
    before = (run / checkpoint.WEIGHTS_FILE).read_bytes()

    class Dying(dict):
        """Raises while being serialised, like a process killed in the middle of a write."""

        def items(self):
            yield from list(super().items())[:2]
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        checkpoint.write_checkpoint(
            run, checkpoint.RunRecord("cnn", TINY.to_dict(), 22050, step=2), Dying(model.state())
        )
    assert (run / checkpoint.WEIGHTS_FILE).read_bytes() == before
    assert checkpoint.read_record(run).step == 1
    assert not list(run.glob(".*.part")), "temporary files must be cleaned up"
    checkpoint.read_model(run)


def test_optimizer_state_survives_flattening_into_named_tensors():
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(2):
        optimizer.zero_grad()
        sum(p.pow(2).sum() for p in model.parameters()).backward()
        optimizer.step()
    tensors, rest = checkpoint.flatten_optimizer_state(optimizer.state_dict())
    assert all(isinstance(t, torch.Tensor) for t in tensors.values())
    json.dumps(rest)  # the non-tensor half must be JSON
    fresh = torch.optim.Adam(tiny_model().parameters(), lr=0.5)
    fresh.load_state_dict(checkpoint.unflatten_optimizer_state(tensors, rest))
    assert fresh.param_groups[0]["lr"] == 0.01
    original = optimizer.state_dict()["state"]
    restored = fresh.state_dict()["state"]
    for index in original:
        for key, value in original[index].items():
            assert torch.equal(torch.as_tensor(restored[index][key]), torch.as_tensor(value))


def test_history_skips_a_torn_last_line_and_truncates_on_resume(tmp_path: Path):
    for step in (10, 20, 30):
        checkpoint.append_history(tmp_path, {"step": step, "loss": 1.0 / step})
    with open(tmp_path / checkpoint.HISTORY_FILE, "a") as handle:
        handle.write('{"step": 40, "lo')
    assert [e["step"] for e in checkpoint.read_history(tmp_path)] == [10, 20, 30]
    checkpoint.truncate_history(tmp_path, up_to_step=20)
    assert [e["step"] for e in checkpoint.read_history(tmp_path)] == [10, 20]
