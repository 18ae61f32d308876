"""A run directory on disk: what a trained model is, as data.

Layout (DESIGN.md)::

    RUN/model.json               family, config, format version, sample rate, dataset fingerprint,
                                 step, metrics, trainer state, optimiser bits that are not tensors
    RUN/weights.safetensors      ``learner.state()``: everything needed to rebuild the model
    RUN/optimizer.safetensors    optimiser tensors + trainer RNG state, for ``--resume`` only
    RUN/history.jsonl            one JSON object per logged step
    RUN/preview.wav              the latest sound previewed during training (``--progress jsonl``)

Every file is written to a temporary name in the same folder (``.NAME.XXXXXXXX.part``) and
moved into place with ``os.replace``, so a kill at any moment leaves either the previous file or
the new one. A checkpoint writes all its temporary files before renaming any, so a full disk
leaves the previous checkpoint whole; the tensors files are replaced first and ``model.json``
last, and each tensors file carries the step it belongs to in its safetensors header, so a
reader can tell if a kill fell between two renames. Temporary files a kill left behind are
removed by the next checkpoint and on resume (:func:`remove_temp_files`).
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
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import save as save_tensors_bytes
from torch import Tensor

from synth_core import safe_io
from synth_core.errors import CheckpointError, ModelConfigError, disk_full_error, is_disk_full
from synth_core.paths import new_file_mode

if TYPE_CHECKING:
    from synth_core.models.base import TrainableModel

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
HISTORY_FILE = "history.jsonl"
PREVIEW_FILE = "preview.wav"
#: Ending of every temporary file written beside its target before ``os.replace``.
TEMP_SUFFIX = ".part"


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


def _write_temp(path: Path, data: bytes) -> str:
    """Write ``data`` to a new temporary file beside ``path``, flushed and fsync'ed; its name.

    The name is ``.{path.name}.XXXXXXXX.part`` (:data:`TEMP_SUFFIX`), which
    :func:`remove_temp_files` recognises when a killed writer left it behind. The file gets the
    mode the user's umask gives new files (mkstemp would leave it private, 0600).

    Raises
    ------
    DiskFullError
        The disk or the quota filled up; nothing is left behind.
    """
    try:
        fd, temp_name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX
        )
    except OSError as error:
        if is_disk_full(error):
            raise disk_full_error(error, path=path) from error
        raise
    try:
        os.chmod(temp_name, new_file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if is_disk_full(error):
            raise disk_full_error(error, path=path) from error  # type: ignore[arg-type]
        raise
    return temp_name


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    The data is flushed and fsync'ed before the rename, so a crash leaves the old file or the new
    one, never a torn mix; a full disk raises :class:`~synth_core.errors.DiskFullError` naming
    ``path`` and leaves the old file as it was.
    """
    temp_name = _write_temp(path, data)
    try:
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


def remove_temp_files(run_dir: str | Path) -> list[Path]:
    """Delete the temporary files a killed writer left in ``run_dir``; the paths removed.

    Only names this module and the trainer's preview writer create are touched
    (``.model.json.*.part``, ``.weights.safetensors.*.part``, ``.preview.*.part``, …), and only
    directly in ``run_dir``. Call it when no other process writes into the run.
    """
    run_dir = Path(run_dir)
    removed = []
    for name in (MODEL_FILE, WEIGHTS_FILE, OPTIMIZER_FILE, HISTORY_FILE, PREVIEW_FILE):
        stem = name if name != PREVIEW_FILE else Path(name).stem  # audio.save's naming
        for temp in run_dir.glob(f".{stem}.*{TEMP_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                if temp.is_file() and not temp.is_symlink():
                    temp.unlink()
                    removed.append(temp)
    if removed:
        log.info("%s: removed %d temporary file(s) of an interrupted write", run_dir, len(removed))
    return removed


def _json_bytes(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=False) + "\n").encode()


def atomic_write_json(path: Path, data: Mapping[str, Any]) -> None:
    atomic_write_bytes(path, _json_bytes(data))


def _tensors_bytes(tensors: Mapping[str, Tensor], step: int) -> bytes:
    # safetensors refuses shared or non-contiguous storage; a clone on CPU is cheap at our sizes.
    flat = {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}
    return save_tensors_bytes(flat, metadata={"step": str(int(step))})


def _read_tensors(path: Path) -> tuple[dict[str, Tensor], int | None]:
    """Tensors and recorded step of a safetensors file, through :mod:`synth_core.safe_io`: only
    a regular file up to 2 GiB, its header checked against its size before tensors are built."""
    tensors, metadata = safe_io.read_safetensors(path, error=CheckpointError)
    step = metadata.get("step")
    if step is None:
        return tensors, None
    if not step.isdecimal() or len(step) > 19:
        raise CheckpointError(f"the step in its header ({step[:40]!r}) is not a count", path=path)
    return tensors, int(step)


def write_checkpoint(
    run_dir: str | Path,
    record: RunRecord,
    weights: Mapping[str, Tensor],
    optimizer: Mapping[str, Tensor] | None = None,
) -> Path:
    """Write a complete checkpoint into ``run_dir`` (created if needed).

    Every file is first written in full to a temporary file, and only when all of them are on
    disk are they renamed into place (tensors first, ``model.json`` last). So a full disk, which
    can only strike while writing, leaves the previous checkpoint whole and consistent, and a
    kill between two renames is caught by the step in each tensors file's header. Temporary
    files an earlier, killed writer left behind are removed first.

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

    Raises
    ------
    DiskFullError
        The disk or the quota filled up; the previous checkpoint is untouched.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_temp_files(run_dir)
    contents = []
    if optimizer is not None:
        contents.append((run_dir / OPTIMIZER_FILE, _tensors_bytes(optimizer, record.step)))
    contents.append((run_dir / WEIGHTS_FILE, _tensors_bytes(weights, record.step)))
    contents.append((run_dir / MODEL_FILE, _json_bytes(record.to_dict())))
    written: list[tuple[str, Path]] = []
    try:
        for path, data in contents:
            written.append((_write_temp(path, data), path))
        for temp_name, path in written:
            os.replace(temp_name, path)
    except BaseException:
        for temp_name, _ in written:  # those already renamed are gone: nothing to do for them
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
        raise
    return run_dir


def read_record(run_dir: str | Path) -> RunRecord:
    """Read and check ``model.json``; a newer format version or a foreign file is refused.

    The file must be a regular file of at most 16 MiB holding a JSON object (see
    :mod:`synth_core.safe_io`); ``format_version`` a whole number from 1 up to
    :data:`FORMAT_VERSION`, ``family`` a string, ``sample_rate`` a whole number of Hz,
    ``step`` a count, and ``config``, ``dataset``, ``metrics``, ``trainer`` and
    ``optimizer`` objects. Anything else raises :class:`CheckpointError` naming the field.
    """
    path = Path(run_dir) / MODEL_FILE
    if not Path(run_dir).is_dir():
        raise CheckpointError("is not a run directory (no such folder)", path=run_dir)
    if not os.path.lexists(path):
        raise CheckpointError("no model.json here; is this a run directory?", path=run_dir)
    data = safe_io.read_json_object(path, error=CheckpointError)
    if "family" not in data or "format_version" not in data:
        raise CheckpointError("model.json is not a Timbre Lab model description", path=path)
    version = data["format_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(
            f"format_version {version!r} is not a version number (1 up to {FORMAT_VERSION})",
            path=path,
        )
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"written by a newer Timbre Lab (format version {version}; this one reads up to "
            f"{FORMAT_VERSION}); update Timbre Lab to open it",
            path=path,
        )
    family = data["family"]
    if not isinstance(family, str):
        raise CheckpointError(f"family must be a name, not {family!r}", path=path)
    if "sample_rate" not in data:
        raise CheckpointError("model.json has no sample_rate", path=path)
    sample_rate = safe_io.whole_number(
        data["sample_rate"], "sample_rate", path=path, error=CheckpointError, low=1, high=10**6
    )
    step = safe_io.whole_number(
        data.get("step", 0), "step", path=path, error=CheckpointError, low=0, high=2**63 - 1
    )
    parts = {}
    for name in ("config", "dataset", "metrics", "trainer", "optimizer"):
        part = data.get(name, {})
        if not isinstance(part, dict):
            raise CheckpointError(f"{name} must be a JSON object, not {part!r:.60}", path=path)
        parts[name] = part
    return RunRecord(
        family=family, sample_rate=sample_rate, step=step, format_version=version, **parts
    )


def read_weights(run_dir: str | Path) -> tuple[dict[str, Tensor], int | None]:
    """The tensors of ``weights.safetensors`` and the step recorded in its header."""
    return _read_tensors(Path(run_dir) / WEIGHTS_FILE)


def read_optimizer(run_dir: str | Path) -> tuple[dict[str, Tensor], int | None] | None:
    """The tensors of ``optimizer.safetensors`` and their step, or None when there is none."""
    path = Path(run_dir) / OPTIMIZER_FILE
    if not path.exists():
        return None
    return _read_tensors(path)


# what a tensor may be stored as, by the dtype the model holds it in: float32 tensors may be
# stored at half precision (a smaller file); everything else exactly as the model holds it
_STORED_AS = {torch.float32: (torch.float32, torch.float16, torch.bfloat16)}


def check_weights(model: Any, weights: Mapping[str, Tensor], *, path: str | Path) -> None:
    """Refuse stored tensors that cannot be this model's, before ``load_state`` sees them.

    Each tensor the freshly built ``model`` also has must come in a dtype the model stores it in
    (float32 tensors may be stored at half precision) with the same number of dimensions. Sizes
    are not compared here: some depend on the training set rather than the config (a gmm fitted
    to a small folder keeps fewer feature dimensions than its config allows), so a size that does
    not fit is left to ``load_state``, whose errors :func:`read_model` reports as a
    ``CheckpointError`` too.

    Raises
    ------
    CheckpointError
        Naming the tensor, what it is and what the model expects, and ``path``.
    """
    fresh = model.state()
    for name, tensor in weights.items():
        expected = fresh.get(name)
        if expected is None:
            continue
        allowed = _STORED_AS.get(expected.dtype, (expected.dtype,))
        shape, want = tuple(tensor.shape), tuple(expected.shape)
        if tensor.dtype not in allowed:
            raise CheckpointError(
                f"weights do not fit a {model.family} model: tensor {name!r} is "
                f"{str(tensor.dtype).removeprefix('torch.')}, where the model stores "
                f"{' or '.join(str(d).removeprefix('torch.') for d in allowed)}",
                path=path,
            )
        if len(shape) != len(want):
            raise CheckpointError(
                f"weights do not fit a {model.family} model: tensor {name!r} has shape "
                f"{list(shape)}, where the model stores {len(want)} dimension(s)",
                path=path,
            )


def read_model(run_dir: str | Path) -> TrainableModel:
    """Rebuild the model saved in ``run_dir`` (family, config, weights); no code is executed.

    Every file is read through :mod:`synth_core.safe_io` (regular files of bounded size,
    headers checked before tensors are built), the config is validated, and bounded, before
    the model is built, and the tensors are checked against the built model
    (:func:`check_weights`) before they are loaded.

    Raises
    ------
    CheckpointError
        Missing, special, oversized or corrupt files, a newer format, an unknown family, a
        config out of range, or tensors that do not fit the model.
    """
    from synth_core.models import get_family

    record = read_record(run_dir)
    try:
        family = get_family(record.family)
        config = family.model_class.config_class.from_dict(record.config)
    except ModelConfigError as error:
        raise CheckpointError(f"cannot rebuild the model ({error})", path=run_dir) from None
    weights, step = read_weights(run_dir)
    model = family.model_class.from_config(config)
    if step is not None and step != record.step:
        log.warning(
            "%s: weights are from step %d but model.json says %d (interrupted checkpoint); "
            "using the weights",
            run_dir,
            step,
            record.step,
        )
    check_weights(model, weights, path=Path(run_dir) / WEIGHTS_FILE)
    try:
        model.load_state(weights)
    except (KeyError, RuntimeError, ValueError, IndexError, TypeError) as error:
        raise CheckpointError(
            f"weights do not fit a {record.family} model ({error})",
            path=Path(run_dir) / WEIGHTS_FILE,
        ) from None
    model.set_training(False)
    return model


def save_model(
    run_dir: str | Path, model: TrainableModel, *, step: int = 0, **record_fields: Any
) -> Path:
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
    """Append one line to ``history.jsonl`` (a torn last line is skipped when reading).

    A line torn by a kill or a full disk is ended first, so it never swallows the next one.

    Raises
    ------
    DiskFullError
        The disk or the quota filled up.
    """
    path = Path(run_dir) / HISTORY_FILE
    line = (json.dumps(entry) + "\n").encode()
    try:
        with open(path, "a+b") as handle:
            if handle.seek(0, os.SEEK_END) > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    line = b"\n" + line
            handle.write(line)
    except OSError as error:
        if is_disk_full(error):
            raise disk_full_error(error, path=path) from error
        raise


def read_history(run_dir: str | Path, *, up_to_step: int | None = None) -> list[dict[str, Any]]:
    """The logged entries, skipping a torn final line and lines that are not step records;
    only ``step <= up_to_step`` if given. The file is read like every run file (a regular file,
    at most 256 MiB: :mod:`synth_core.safe_io`)."""
    path = Path(run_dir) / HISTORY_FILE
    if not os.path.lexists(path):
        return []
    data = safe_io.read_bytes(path, limit=safe_io.MAX_HISTORY_BYTES, error=CheckpointError)
    entries = []
    for line in data.splitlines():
        try:
            entry = safe_io.parse_json(line, path=path, error=CheckpointError)
        except CheckpointError:
            continue
        step = entry.get("step", 0) if isinstance(entry, dict) else None
        if isinstance(step, bool) or not isinstance(step, (int, float)):
            continue
        if up_to_step is None or step <= up_to_step:
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
