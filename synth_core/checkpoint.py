"""A run directory on disk: what a trained model is, as data.

Layout (DESIGN.md)::

    RUN/model.json               family, config, format version, sample rate, dataset fingerprint,
                                 step, metrics, trainer state, optimiser bits that are not tensors
    RUN/weights.safetensors      ``learner.state()``: everything needed to rebuild the model
    RUN/optimizer.safetensors    optimiser tensors + trainer RNG state, for ``--resume`` only
    RUN/history.jsonl            one JSON object per logged step

Every file is written to a temporary name in the same folder and moved into place with
``os.replace``, so a kill at any moment leaves either the previous file or the new one. The
tensors files are replaced first and ``model.json`` last; each tensors file also carries the step
it belongs to in its safetensors header, so a reader can tell if a kill fell between two renames.
Nothing here uses pickle: loading a run never executes code from it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors_bytes
from safetensors.torch import save as save_tensors_bytes
from torch import Tensor

from synth_core.errors import CheckpointError, ModelConfigError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
HISTORY_FILE = "history.jsonl"


@dataclass
class RunRecord:
    """What ``model.json`` holds.

    family : registry name of the model family.
    config : the family config as a plain dict.
    sample_rate : Hz of the model's output.
    step : optimisation steps done when this was written.
    dataset : ``{"fingerprint": hex, "clips": int, "folder": str, ...}``.
    metrics : final or latest numbers (held-out losses, …).
    trainer : trainer state needed to resume (elapsed seconds, learning-rate scale, …).
    optimizer : the non-tensor half of the optimiser state (param groups, scalar entries).
    format_version : the run-directory format this was written in.
    """

    family: str
    config: dict[str, Any]
    sample_rate: int
    step: int = 0
    dataset: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    trainer: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "family": self.family,
            "sample_rate": self.sample_rate,
            "step": self.step,
            "config": self.config,
            "dataset": self.dataset,
            "metrics": self.metrics,
            "trainer": self.trainer,
            "optimizer": self.optimizer,
        }


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    The data is flushed and fsync'ed before the rename, so a crash leaves the old file or the new
    one, never a torn mix.
    """
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        # mkstemp makes the file private (0600); a run directory is shared like any other file
        os.chmod(temp_name, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


def atomic_write_json(path: Path, data: Mapping[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())


def _tensors_bytes(tensors: Mapping[str, Tensor], step: int) -> bytes:
    # safetensors refuses shared or non-contiguous storage; a clone on CPU is cheap at our sizes.
    flat = {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}
    return save_tensors_bytes(flat, metadata={"step": str(int(step))})


def _read_tensors(path: Path) -> tuple[dict[str, Tensor], int | None]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError("file is missing", path=path) from None
    try:
        tensors = load_tensors_bytes(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
    except (SafetensorError, ValueError, json.JSONDecodeError) as error:
        raise CheckpointError(f"not a readable safetensors file ({error})", path=path) from None
    step = header.get("__metadata__", {}).get("step")
    return tensors, int(step) if step is not None else None


def write_checkpoint(
    run_dir: str | Path,
    record: RunRecord,
    weights: Mapping[str, Tensor],
    optimizer: Mapping[str, Tensor] | None = None,
) -> Path:
    """Write a complete checkpoint into ``run_dir`` (created if needed), atomically per file.

    Parameters
    ----------
    run_dir : str or Path
        The run directory.
    record : RunRecord
        What goes into ``model.json``.
    weights : mapping of str to Tensor
        ``learner.state()``.
    optimizer : mapping of str to Tensor or None
        Optimiser and trainer tensors for resuming; None leaves no ``optimizer.safetensors``
        (a finished, export-only model).

    Returns
    -------
    Path
        ``run_dir``.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if optimizer is not None:
        atomic_write_bytes(run_dir / OPTIMIZER_FILE, _tensors_bytes(optimizer, record.step))
    atomic_write_bytes(run_dir / WEIGHTS_FILE, _tensors_bytes(weights, record.step))
    atomic_write_json(run_dir / MODEL_FILE, record.to_dict())
    return run_dir


def read_record(run_dir: str | Path) -> RunRecord:
    """Read and check ``model.json``; a newer format version or a foreign file is refused."""
    path = Path(run_dir) / MODEL_FILE
    if not Path(run_dir).is_dir():
        raise CheckpointError("is not a run directory (no such folder)", path=run_dir)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(
            "no model.json here; is this a run directory?", path=run_dir
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"model.json is not valid JSON ({error})", path=path) from None
    if not isinstance(data, dict) or "family" not in data or "format_version" not in data:
        raise CheckpointError("model.json is not a Timbre Lab model description", path=path)
    version = data["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"written by a newer Timbre Lab (format version {version}; this one reads up to "
            f"{FORMAT_VERSION}); update Timbre Lab to open it",
            path=path,
        )
    try:
        return RunRecord(
            family=str(data["family"]),
            config=dict(data.get("config", {})),
            sample_rate=int(data["sample_rate"]),
            step=int(data.get("step", 0)),
            dataset=dict(data.get("dataset", {})),
            metrics=dict(data.get("metrics", {})),
            trainer=dict(data.get("trainer", {})),
            optimizer=dict(data.get("optimizer", {})),
            format_version=version,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"model.json has a missing or bad field ({error})", path=path
        ) from None


def read_weights(run_dir: str | Path) -> tuple[dict[str, Tensor], int | None]:
    """The tensors of ``weights.safetensors`` and the step recorded in its header."""
    return _read_tensors(Path(run_dir) / WEIGHTS_FILE)


def read_optimizer(run_dir: str | Path) -> tuple[dict[str, Tensor], int | None] | None:
    """The tensors of ``optimizer.safetensors`` and their step, or None when there is none."""
    path = Path(run_dir) / OPTIMIZER_FILE
    if not path.exists():
        return None
    return _read_tensors(path)


def load_model(run_dir: str | Path) -> Any:
    """Rebuild the model saved in ``run_dir`` (family, config, weights); no code is executed.

    Raises
    ------
    CheckpointError
        Missing or corrupt files, a newer format, or an unknown family.
    """
    from synth_core.models import get_family

    record = read_record(run_dir)
    try:
        family = get_family(record.family)
        config = family.model_class.config_class.from_dict(record.config)
    except ModelConfigError as error:
        raise CheckpointError(f"cannot rebuild the model ({error})", path=run_dir) from None
    model = family.model_class.from_config(config)
    weights, step = read_weights(run_dir)
    if step is not None and step != record.step:
        log.warning(
            "%s: weights are from step %d but model.json says %d (interrupted checkpoint); "
            "using the weights",
            run_dir,
            step,
            record.step,
        )
    try:
        model.load_state(weights)
    except (KeyError, RuntimeError, ValueError) as error:
        raise CheckpointError(
            f"weights do not fit a {record.family} model ({error})", path=run_dir
        ) from None
    if hasattr(model, "eval"):
        model.eval()
    return model


def save_model(run_dir: str | Path, model: Any, *, step: int = 0, **record_fields: Any) -> Path:
    """Save a model (no optimiser state) as a run directory other code can load."""
    record = RunRecord(
        family=model.family,
        config=model.config.to_dict(),
        sample_rate=int(model.sample_rate),
        step=step,
        **record_fields,
    )
    return write_checkpoint(run_dir, record, model.state())


# Optimiser state -----------------------------------------------------------------------------


def flatten_optimizer_state(
    state_dict: Mapping[str, Any], *, prefix: str = "optim"
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split ``torch.optim.Optimizer.state_dict()`` into named tensors and a JSON-able rest.

    Returns
    -------
    tensors : dict of str to Tensor
        ``"{prefix}.state.{param_index}.{key}"`` for every tensor entry.
    rest : dict
        ``{"param_groups": [...], "scalars": {"{param_index}.{key}": number}}``.
    """
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, entries in state_dict["state"].items():
        for key, value in entries.items():
            if isinstance(value, Tensor):
                tensors[f"{prefix}.state.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": list(state_dict["param_groups"]), "scalars": scalars}


def unflatten_optimizer_state(
    tensors: Mapping[str, Tensor], rest: Mapping[str, Any], *, prefix: str = "optim"
) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer_state`: a dict for ``Optimizer.load_state_dict``."""
    state: dict[int, dict[str, Any]] = {}
    head = f"{prefix}.state."
    for name, value in tensors.items():
        if not name.startswith(head):
            continue
        index, key = name[len(head) :].split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for name, value in rest.get("scalars", {}).items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": [dict(g) for g in rest.get("param_groups", [])]}


def append_history(run_dir: str | Path, entry: Mapping[str, Any]) -> None:
    """Append one line to ``history.jsonl`` (a torn last line is skipped when reading)."""
    with open(Path(run_dir) / HISTORY_FILE, "a") as handle:
        handle.write(json.dumps(entry) + "\n")


def read_history(run_dir: str | Path, *, up_to_step: int | None = None) -> list[dict[str, Any]]:
    """The logged entries, skipping a torn final line; only ``step <= up_to_step`` if given."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if up_to_step is None or int(entry.get("step", 0)) <= up_to_step:
            entries.append(entry)
    return entries


def truncate_history(run_dir: str | Path, *, up_to_step: int) -> None:
    """Drop history lines logged after the checkpoint a resumed run starts from."""
    entries = read_history(run_dir, up_to_step=up_to_step)
    data = "".join(json.dumps(e) + "\n" for e in entries)
    atomic_write_bytes(Path(run_dir) / HISTORY_FILE, data.encode())


def rng_state_tensors(generator: torch.Generator) -> dict[str, Tensor]:
    """The trainer's data-order RNG and torch's global RNG, as tensors for resuming."""
    return {"trainer.data_rng": generator.get_state(), "trainer.torch_rng": torch.get_rng_state()}


def restore_rng_state(tensors: Mapping[str, Tensor], generator: torch.Generator) -> None:
    if "trainer.data_rng" in tensors:
        generator.set_state(tensors["trainer.data_rng"].to(torch.uint8))
    if "trainer.torch_rng" in tensors:
        torch.set_rng_state(tensors["trainer.torch_rng"].to(torch.uint8))
