"""``timbrelab export-pack``: the current sound across a key range as an SFZ instrument."""

from __future__ import annotations

import argparse
import sys

from synth_core.export import ExportSettings
from synth_core.packs import export_pack, parse_pitches


def cli_export_pack(args: argparse.Namespace) -> int:
    """``timbrelab export-pack RUN --pitches 36:84:3 --velocities 3 --out DIR
    [--set NAME=VALUE] [--seed S] [--format wav|flac] [--sample-rate HZ] [--overwrite]``.

    Prints one line naming the SFZ file, how many samples it maps and how many regions loop.
    """
    from synth_core.runs import open_model, parse_control_values

    pitches = parse_pitches(args.pitches)
    model = open_model(args.run)
    values = parse_control_values(args.set, model)
    result = export_pack(
        model,
        args.out,
        model_id=args.run,
        values=values,
        pitches=pitches,
        velocities=args.velocities,
        seed=args.seed,
        settings=ExportSettings(format=args.format, sample_rate=args.sample_rate),
        overwrite=args.overwrite,
    )
    loops = sum(1 for region in result.regions if region.loop is not None)
    if model.accepts_pitch:
        how = "rendered at each key"
    elif all(region.root is None for region in result.regions):
        how = "unpitched: one sample over every key, not transposed"
    else:
        how = "this model takes no pitch: one sample, transposed by the sampler"
    sys.stderr.write(
        f"wrote {result.sfz} with {len(result.samples)} sample(s), {how}; "
        f"{len(result.regions)} region(s), {loops} looped\n"
    )
    return 0
