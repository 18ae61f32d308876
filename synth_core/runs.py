"""Finding a model by name and playing it from the command line: generate, reconstruct, families.

A ``RUN`` argument is one of:

* a run directory written by ``timbrelab train`` (has ``model.json``);
* the name of a starter model in ``resources/models/<name>/`` (a run directory shipped with us);
* ``physical:INSTRUMENT``, a physical model playable without training.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from synth_core import checkpoint
from synth_core.errors import AudioFileError, CheckpointError, ModelConfigError
from synth_core.models import resolve_builtin
from synth_core.models.base import SoundModel, TrainableModel, resolve_values

log = logging.getLogger(__name__)

RESOURCES_MODELS = Path(__file__).resolve().parent.parent / "resources" / "models"


def load_model(run: str | Path) -> TrainableModel:
    """The model ``run`` names: a run directory, a starter model name, or ``physical:NAME``.

    Raises
    ------
    CheckpointError
        When nothing by that name exists, or the files are missing, corrupt or too new.
    """
    text = str(run)
    builtin = resolve_builtin(text)
    if builtin is not None:
        return builtin
    path = Path(text)
    # anything named model.json goes to the checkpoint reader, which says what is wrong with
    # it (a folder, a pipe, a device, too large) rather than "no model.json here"
    if os.path.lexists(path / checkpoint.MODEL_FILE):
        return checkpoint.load_model(path)
    starter = RESOURCES_MODELS / text
    if "/" not in text and (starter / checkpoint.MODEL_FILE).is_file():
        return checkpoint.load_model(starter)
    if path.is_dir():
        raise CheckpointError("no model.json here; is this a run directory?", path=path)
    starters = sorted(p.name for p in RESOURCES_MODELS.glob("*") if (p / "model.json").is_file())
    raise CheckpointError(
        f"{text!r} is not a run directory, a starter model ({', '.join(starters) or 'none'}) "
        "or physical:INSTRUMENT"
    )


def check_weights(model: TrainableModel, name: str) -> None:
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
                f"model {name} renders NaN: its weights are corrupt ({key} holds NaN or "
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


def _write(audio: torch.Tensor, path: Path, sample_rate: int, out_rate: int | None) -> None:
    from synth_core import audio as audio_io

    samples = audio.detach().cpu().numpy()
    if out_rate is not None and out_rate != sample_rate:
        samples = audio_io.resample(samples, sample_rate, out_rate)
        sample_rate = out_rate
    audio_io.save(samples, path, sample_rate=sample_rate)


def cli_generate(args: argparse.Namespace) -> int:
    """``timbrelab generate RUN --n N --out DIR [--seed S] [--pitch MIDI] [--set NAME=VALUE]
    [--primer FILE] [--overwrite]``.

    Sound ``i`` (file ``NNNN``, from 0) is rendered alone with seed ``S + i`` and written before
    the next is rendered. Files already in ``DIR`` are refused before anything is rendered unless
    ``--overwrite`` is given; a model whose weights hold NaN is refused (it renders silence).
    """
    if args.n < 1:
        raise ModelConfigError(f"--n must be at least 1, got {args.n}")
    model = load_model(args.run)
    if getattr(args, "primer", None) is not None:
        if not model.takes_primer:
            raise ModelConfigError(
                f"{args.run}: --primer needs an rnn model; {model.family} models cannot "
                "continue a recording"
            )
        model.set_primer(args.primer)  # before the values: the primer sets their range
    values = parse_control_values(args.set, model)
    if args.pitch is not None and not model.accepts_pitch:
        raise ModelConfigError(
            f"{args.run}: this model was trained without pitch labels; --pitch cannot be used"
        )
    kwargs: dict[str, Any] = {}
    if args.seconds is not None:
        fixed = float(model.config.clip_seconds)
        if model.variable_length:
            kwargs["seconds"] = args.seconds
        elif abs(args.seconds - fixed) > 1e-9:
            raise ModelConfigError(
                f"{model.family} models make clips of a fixed length ({fixed:g} s); "
                "--seconds cannot change it"
            )
    out = Path(args.out)
    if not getattr(args, "overwrite", False):
        names = (out / output_name(i, args.pitch, args.format) for i in range(args.n))
        _refuse_existing(names)
    check_weights(model, args.run)
    out.mkdir(parents=True, exist_ok=True)
    seed = args.seed if args.seed is not None else int(torch.seed() % 2**31)
    # One sound at a time, each written before the next is rendered: memory is that of one
    # sound whatever --n is, and sound i (seed + i) is the same for every --n, and the same
    # sound the app's export writes for that seed.
    with torch.no_grad():
        for i in range(args.n):
            audio = model.generate(values, n=1, seed=seed + i, pitch=args.pitch, **kwargs)
            path = out / output_name(i, args.pitch, args.format)
            _write(audio[0], path, int(model.sample_rate), args.sample_rate)
    last = f"–{seed + args.n - 1}" if args.n > 1 else ""
    sys.stderr.write(f"wrote {args.n} sound(s) to {out} (seeds {seed}{last})\n")
    return 0


def _refuse_existing(paths: Iterable[Path]) -> None:
    """Raise before anything is rendered when one of ``paths`` exists (no ``--overwrite``)."""
    for path in paths:
        if path.exists() or path.is_symlink():
            raise AudioFileError(
                "already exists; pass --overwrite to replace it, or choose another --out folder",
                path=path,
            )


def cli_reconstruct(args: argparse.Namespace) -> int:
    """``timbrelab reconstruct RUN IN_DIR --out DIR [--overwrite]``: each file analysed and
    resynthesised into ``DIR``, at the same place relative to it as in ``IN_DIR`` (see
    :func:`reconstruct_paths` for the names). ``DIR`` may not be, contain or lie inside
    ``IN_DIR``, and files already in ``DIR`` are kept unless ``--overwrite`` is given."""
    from synth_core.dataset import load_clips_reporting, say_skipped

    in_dir, out = Path(args.in_dir), Path(args.out)
    _refuse_overlap(in_dir, out)
    model = load_model(args.run)
    clips = load_clips_reporting(
        in_dir,
        say_skipped,
        sample_rate=int(model.sample_rate),
        seconds=float(model.config.clip_seconds),
    )
    targets = reconstruct_paths(clips.paths, in_dir.expanduser().absolute(), out)
    if not getattr(args, "overwrite", False):
        _refuse_existing(targets)
    check_weights(model, args.run)
    takes_pitch = model.reconstructs_with_pitch
    from tqdm import tqdm

    # some families fit each input by gradient steps (about half a second a clip): show progress
    bar = tqdm(
        total=len(clips),
        unit="file",
        desc="Reconstructing",
        leave=False,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
    )
    with torch.no_grad(), bar:
        for start in range(0, len(clips), 16):
            audio = clips.audio[start : start + 16]
            kwargs = {"pitch": clips.pitch[start : start + 16]} if takes_pitch else {}
            rebuilt = model.reconstruct(audio, **kwargs)
            for i in range(rebuilt.shape[0]):
                target = targets[start + i]
                target.parent.mkdir(parents=True, exist_ok=True)
                _write(rebuilt[i], target, int(model.sample_rate), None)
            bar.update(rebuilt.shape[0])
    sys.stderr.write(f"reconstructed {len(clips)} file(s) into {out}\n")
    return 0


def _refuse_overlap(in_dir: Path, out: Path) -> None:
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


def cli_families(args: argparse.Namespace) -> int:
    """``timbrelab families [--json]``."""
    rows = family_table()
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    for row in rows:
        sys.stdout.write(f"{row['name']:<9} {row['title']} — {row['summary']}\n")
        sys.stdout.write(f"{'':<9} good for: {row['good_for']}\n")
        defaults = ", ".join(f"{k}={v}" for k, v in row["defaults"].items())
        sys.stdout.write(f"{'':<9} defaults: {defaults}\n")
        if row["presets"]:
            sys.stdout.write(f"{'':<9} presets: {', '.join(row['presets'])}\n")
    return 0
