"""``timbrelab reconstruct MODEL IN_DIR --out DIR``: analyse and resynthesise a folder of sounds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from synth_core import runs

#: Clips resynthesised together: a few at a time keeps memory flat for any folder size.
BATCH = 16


def cli_reconstruct(args: argparse.Namespace) -> int:
    """``timbrelab reconstruct MODEL IN_DIR --out DIR [--overwrite]``: each file analysed and
    resynthesised into ``DIR``, at the same place relative to it as in ``IN_DIR`` (see
    :func:`synth_core.runs.reconstruct_paths` for the names). ``DIR`` may not be, contain or lie
    inside ``IN_DIR``, and files already in ``DIR`` are kept unless ``--overwrite`` is given."""
    from tqdm import tqdm

    from synth_core.dataset import load_clips_reporting, say_skipped

    in_dir, out = Path(args.in_dir), Path(args.out)
    runs.refuse_overlap(in_dir, out)
    model = runs.open_model(args.run)
    clips = load_clips_reporting(
        in_dir,
        say_skipped,
        sample_rate=int(model.sample_rate),
        seconds=float(model.config.clip_seconds),
    )
    targets = runs.reconstruct_paths(clips.paths, in_dir.expanduser().absolute(), out)
    if not args.overwrite:
        runs.refuse_existing(targets)
    runs.check_finite_weights(model, args.run)
    takes_pitch = model.reconstructs_with_pitch
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
        for start in range(0, len(clips), BATCH):
            audio = clips.audio[start : start + BATCH]
            kwargs = {"pitch": clips.pitch[start : start + BATCH]} if takes_pitch else {}
            rebuilt = model.reconstruct(audio, **kwargs)
            for i in range(rebuilt.shape[0]):
                target = targets[start + i]
                target.parent.mkdir(parents=True, exist_ok=True)
                runs.write_audio(rebuilt[i], target, int(model.sample_rate))
            bar.update(rebuilt.shape[0])
    sys.stderr.write(f"reconstructed {len(clips)} file(s) into {out}\n")
    return 0
