"""Opening a model by its model id, and what playing it into files needs.

A *model id* (the command line's ``MODEL`` argument, the app's model list, a sidecar's or
preset's ``model`` field) is one of:

* a run directory written by ``timbrelab train`` (has ``model.json``);
* the name of a starter model in ``resources/models/<name>/`` (a run directory shipped with us);
* ``physical:INSTRUMENT``, a physical model playable without training.

:func:`open_model` resolves one; the rest checks a model before it is rendered
(:func:`check_finite_weights`), parses ``--set NAME=VALUE``, names and writes output files, refuses
outputs that would overwrite files, and lists the families (:func:`family_table`). The commands
that use them (``generate``, ``reconstruct``, ``families``) live in :mod:`synth_core.commands`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from synth_core import checkpoint
from synth_core.errors import AudioFileError, CheckpointError, ModelConfigError
from synth_core.models import resolve_builtin
from synth_core.models.base import SoundModel, TrainableModel, resolve_values
from synth_core.paths import resources_dir

log = logging.getLogger(__name__)

RESOURCES_MODELS = resources_dir() / "models"


def open_model(model_id: str | Path) -> TrainableModel:
    """The model ``model_id`` names: a run directory, a starter model name, or
    ``physical:NAME``.

    Raises
    ------
    CheckpointError
        When nothing by that name exists, or the files are missing, corrupt or too new.
    """
    text = str(model_id)
    builtin = resolve_builtin(text)
    if builtin is not None:
        return builtin
    path = Path(text)
    # anything named model.json goes to the checkpoint reader, which says what is wrong with
    # it (a folder, a pipe, a device, too large) rather than "no model.json here"
    if os.path.lexists(path / checkpoint.MODEL_FILE):
        return checkpoint.read_model(path)
    starter = RESOURCES_MODELS / text
    if "/" not in text and (starter / checkpoint.MODEL_FILE).is_file():
        return checkpoint.read_model(starter)
    if path.is_dir():
        raise CheckpointError("no model.json here; is this a run directory?", path=path)
    starters = sorted(p.name for p in RESOURCES_MODELS.glob("*") if (p / "model.json").is_file())
    raise CheckpointError(
        f"{text!r} is not a run directory, a starter model ({', '.join(starters) or 'none'}) "
        "or physical:INSTRUMENT"
    )


def check_finite_weights(model: TrainableModel, model_id: str) -> None:
    """Refuse a model whose learned weights hold NaN or infinity.

    Such a model renders NaN, which every family's output stage turns into silence: without this
    check ``generate`` and an export would write silent files and report success. Checked are the
    parameters of a torch module, or for other families the NaN in their state tensors (their
    state may hold infinities on purpose, such as log-probabilities of impossible transitions;
    NaN in a buffer that marks "unknown", such as a clip's pitch, is not a weight).

    Raises
    ------
    CheckpointError
        Naming the model and the first corrupt tensor.
    """
    if isinstance(model, torch.nn.Module):
        tensors = ((key, value, True) for key, value in model.named_parameters())
    else:
        tensors = ((key, value, False) for key, value in model.state().items())
    for key, value, learned in tensors:
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            continue
        bad = ~torch.isfinite(value) if learned else torch.isnan(value)
        if bool(bad.any()):
            raise CheckpointError(
                f"model {model_id} renders NaN: its weights are corrupt ({key} holds NaN or "
                "infinity); retrain or reload it"
            )


def parse_control_values(pairs: list[str], model: SoundModel) -> dict[str, float]:
    """``["axis_1=1.5", "variation=0"]`` checked against ``model.controls()``."""
    values: dict[str, float] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise ModelConfigError(f"--set {pair!r}: expected NAME=VALUE")
        try:
            values[name.strip()] = float(text)
        except ValueError:
            raise ModelConfigError(f"--set {pair!r}: {text!r} is not a number") from None
    return resolve_values(model.controls(), values)


def output_name(index: int, pitch: float | None, suffix: str) -> str:
    """``0003.wav``, or ``0003__p060.wav`` when a pitch is given (the ``__pNNN`` label that
    ``dataset.py`` reads back; fractional notes keep one decimal: ``__p60.5``)."""
    if pitch is None:
        return f"{index:04d}.{suffix}"
    label = f"{int(pitch):03d}" if float(pitch).is_integer() else f"{pitch:05.1f}"
    return f"{index:04d}__p{label}.{suffix}"


def write_audio(
    audio: torch.Tensor, path: Path, sample_rate: int, *, out_rate: int | None = None
) -> None:
    """Write one sound ``[samples]`` at ``sample_rate`` Hz to ``path`` (format from its
    extension), resampled to ``out_rate`` Hz first when that is given and differs."""
    from synth_core import audio as audio_io

    samples = audio.detach().cpu().numpy()
    if out_rate is not None and out_rate != sample_rate:
        samples = audio_io.resample(samples, sample_rate, out_rate)
        sample_rate = out_rate
    audio_io.save(samples, path, sample_rate=sample_rate)


def refuse_existing(paths: Iterable[Path]) -> None:
    """Raise before anything is rendered when one of ``paths`` exists (no ``--overwrite``)."""
    for path in paths:
        if path.exists() or path.is_symlink():
            raise AudioFileError(
                "already exists; pass --overwrite to replace it, or choose another --out folder",
                path=path,
            )


def refuse_overlap(in_dir: Path, out: Path) -> None:
    """Refuse an output folder that is, contains or lies inside the input folder (compared
    resolved, so links and ``..`` cannot hide it): writing there would replace the originals or
    feed the results back into the next scan of the input."""
    source = in_dir.expanduser().resolve()
    target = out.expanduser().resolve()
    if target == source or source in target.parents or target in source.parents:
        relation = (
            "is" if target == source else "is inside" if source in target.parents else "contains"
        )
        raise AudioFileError(
            f"--out {out} {relation} the input folder {in_dir}; the originals could be "
            "replaced — choose an output folder outside it"
        )


def reconstruct_paths(sources: list[Path], in_dir: Path, out: Path) -> list[Path]:
    """Where ``reconstruct`` writes each source: ``out / <path relative to in_dir>`` as WAV.

    A source keeps its name with ``.wav`` for its extension (``kick.flac`` → ``kick.wav``),
    unless two sources of one folder would then share a name (``a.wav`` and ``a.flac``): then a
    source that is not ``.wav`` keeps its whole name and gets ``.wav`` after it
    (``a.flac.wav``), and a ``.wav`` keeps its own. Names are compared case-folded (macOS and
    Windows); a clash that remains after that gets ``-2``, ``-3``… before the extension.
    """
    relative = []
    for source in sources:
        try:
            relative.append(Path(source).relative_to(in_dir))
        except ValueError:
            relative.append(Path(Path(source).name))
    plain = [r.with_name(r.stem + ".wav") for r in relative]
    counts: dict[str, int] = {}
    for path in plain:
        counts[path.as_posix().casefold()] = counts.get(path.as_posix().casefold(), 0) + 1
    wanted = [
        p if counts[p.as_posix().casefold()] == 1 or r.suffix.lower() == ".wav"
        else r.with_name(r.name + ".wav")
        for r, p in zip(relative, plain, strict=True)
    ]  # fmt: skip
    taken: set[str] = set()
    result = []
    for path in wanted:
        candidate, k = path, 2
        while candidate.as_posix().casefold() in taken:
            candidate, k = path.with_name(f"{path.stem}-{k}.wav"), k + 1
        taken.add(candidate.as_posix().casefold())
        result.append(out / candidate)
    return result


def family_table() -> list[dict[str, Any]]:
    """Every available family with its description, default config and presets."""
    from synth_core.models import available_families
    from synth_core.train import family_presets

    rows = []
    for family in available_families():
        defaults: Mapping[str, Any] = family.model_class.config_class().to_dict()
        rows.append(
            {
                "name": family.name,
                "title": family.title,
                "summary": family.summary,
                "good_for": family.good_for,
                "defaults": dict(defaults),
                "presets": family_presets(family.model_class),
            }
        )
    return rows
