"""``timbrelab generate MODEL --n N --out DIR``: render sounds from a model into files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from synth_core import runs
from synth_core.errors import ModelConfigError
from synth_core.latent import NOVELTY


def cli_generate(args: argparse.Namespace) -> int:
    """``timbrelab generate MODEL --n N --out DIR [--seed S] [--pitch MIDI] [--set NAME=VALUE]
    [--primer FILE] [--overwrite]``.

    Sound ``i`` (file ``NNNN``, from 0) is rendered alone with seed ``S + i`` and written before
    the next is rendered. Files already in ``DIR`` are refused before anything is rendered unless
    ``--overwrite`` is given; a model whose weights hold NaN is refused (it renders silence).
    """
    if args.n < 1:
        raise ModelConfigError(f"--n must be at least 1, got {args.n}")
    model = runs.open_model(args.run)
    if args.primer is not None:
        if not model.takes_primer:
            raise ModelConfigError(
                f"{args.run}: --primer needs an rnn model; {model.family} models cannot "
                "continue a recording"
            )
        model.set_primer(args.primer)  # before the values: the primer sets their range
    values = runs.parse_control_values(args.set, model)
    if args.variations:
        if NOVELTY.name not in {control.name for control in model.controls()}:
            raise ModelConfigError(
                f"{args.run}: --variations needs a model that draws new sounds (vae, cnn or gan "
                f"trained with this version); this {model.family} model has no novelty control"
            )
        values[NOVELTY.name] = 0.0
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
    if not args.overwrite:
        runs.refuse_existing(
            out / runs.output_name(i, args.pitch, args.format) for i in range(args.n)
        )
    runs.check_finite_weights(model, args.run)
    out.mkdir(parents=True, exist_ok=True)
    seed = args.seed if args.seed is not None else int(torch.seed() % 2**31)
    # One sound at a time, each written before the next is rendered: memory is that of one
    # sound whatever --n is, and sound i (seed + i) is the same for every --n, and the same
    # sound the app's export writes for that seed.
    with torch.no_grad():
        for i in range(args.n):
            audio = model.generate(values, n=1, seed=seed + i, pitch=args.pitch, **kwargs)
            path = out / runs.output_name(i, args.pitch, args.format)
            runs.write_audio(audio[0], path, int(model.sample_rate), out_rate=args.sample_rate)
    last = f"–{seed + args.n - 1}" if args.n > 1 else ""
    sys.stderr.write(f"wrote {args.n} sound(s) to {out} (seeds {seed}{last})\n")
    return 0
