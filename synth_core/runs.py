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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from synth_core import checkpoint
from synth_core.errors import CheckpointError, ModelConfigError
from synth_core.models.base import SoundModel, resolve_values

log = logging.getLogger(__name__)

RESOURCES_MODELS = Path(__file__).resolve().parent.parent / "resources" / "models"


def load_model(run: str | Path) -> SoundModel:
    """The model ``run`` names: a run directory, a starter model name, or ``physical:NAME``.

    Raises
    ------
    CheckpointError
        When nothing by that name exists, or the files are missing, corrupt or too new.
    """
    text = str(run)
    if text.startswith("physical:"):
        name = text.split(":", 1)[1]
        try:
            from synth_core.models.physical import instrument_model
        except ImportError:
            raise CheckpointError(f"{text!r}: physical instruments are not available") from None
        return instrument_model(name)
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
    [--primer FILE]``."""
    if args.n < 1:
        raise ModelConfigError(f"--n must be at least 1, got {args.n}")
    model = load_model(args.run)
    if getattr(args, "primer", None) is not None:
        if not hasattr(model, "set_primer"):
            raise ModelConfigError(
                f"{args.run}: --primer needs an rnn model; {model.family} models cannot "
                "continue a recording"
            )
        model.set_primer(args.primer)  # before the values: the primer sets their range
    values = parse_control_values(args.set, model)
    if args.pitch is not None and not getattr(model, "accepts_pitch", True):
        raise ModelConfigError(
            f"{args.run}: this model was trained without pitch labels; --pitch cannot be used"
        )
    kwargs: dict[str, Any] = {}
    if args.seconds is not None:
        fixed = float(model.config.clip_seconds)
        if "seconds" in _generate_keywords(model):
            kwargs["seconds"] = args.seconds
        elif abs(args.seconds - fixed) > 1e-9:
            raise ModelConfigError(
                f"{model.family} models make clips of a fixed length ({fixed:g} s); "
                "--seconds cannot change it"
            )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seed = args.seed if args.seed is not None else int(torch.seed() % 2**31)
    with torch.no_grad():
        audio = model.generate(values, n=args.n, seed=seed, pitch=args.pitch, **kwargs)
    for i in range(audio.shape[0]):
        path = out / output_name(i, args.pitch, args.format)
        _write(audio[i], path, int(model.sample_rate), args.sample_rate)
    sys.stderr.write(f"wrote {audio.shape[0]} sound(s) to {out} (seed {seed})\n")
    return 0


def _generate_keywords(model: SoundModel) -> set[str]:
    import inspect

    return set(inspect.signature(model.generate).parameters)


def cli_reconstruct(args: argparse.Namespace) -> int:
    """``timbrelab reconstruct RUN IN_DIR --out DIR``: each file analysed and resynthesised."""
    from synth_core.dataset import load_clips_reporting, say_skipped

    model = load_model(args.run)
    clips = load_clips_reporting(
        args.in_dir,
        say_skipped,
        sample_rate=int(model.sample_rate),
        seconds=float(model.config.clip_seconds),
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    takes_pitch = "pitch" in set(_reconstruct_keywords(model))
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
                source = Path(clips.paths[start + i])
                _write(rebuilt[i], out / (source.stem + ".wav"), int(model.sample_rate), None)
            bar.update(rebuilt.shape[0])
    sys.stderr.write(f"reconstructed {len(clips)} file(s) into {out}\n")
    return 0


def _reconstruct_keywords(model: SoundModel) -> set[str]:
    import inspect

    return set(inspect.signature(model.reconstruct).parameters)


def family_table() -> list[dict[str, Any]]:
    """Every available family with its description, default config and presets."""
    from synth_core.models import available_families
    from synth_core.train import family_presets

    rows = []
    for family in available_families():
        config_class = getattr(family.model_class, "config_class", None)
        defaults: Mapping[str, Any] = config_class().to_dict() if config_class else {}
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
