"""Fixed-seed generation fingerprints of every starter model and physical instrument.

A refactor that claims "behaviour unchanged" runs this on the commit before and after and compares
the two JSON files: each model renders ``n=2`` at seed 7 with its default controls, with every
control at 75 % of its travel, and at MIDI 60 where it takes a pitch, and the SHA-256 of the
float32 samples is recorded. It runs against older checkouts too (where opening a model was
``runs.load_model``), so it asks for either name:

    cd CHECKOUT && PYTHONPATH=CHECKOUT python /path/to/bench/generation_fingerprints.py OUT.json
    diff OLD.json NEW.json
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from synth_core import runs
from synth_core.models.physical import INSTRUMENTS

# the function that opens a model by name was renamed from load_model to open_model
open_model = runs.open_model if hasattr(runs, "open_model") else runs.load_model


def _sha(audio: torch.Tensor) -> str:
    return hashlib.sha256(audio.detach().cpu().numpy().astype(np.float32).tobytes()).hexdigest()


def fingerprint(name: str) -> dict[str, object]:
    model = open_model(name)
    accepts = bool(getattr(model, "accepts_pitch", True))  # older checkouts lack it on some
    moved = {c.name: c.from_normalised(0.75) for c in model.controls()}
    result: dict[str, object] = {
        "accepts_pitch": accepts,
        "controls": [c.name for c in model.controls()],
        "default": _sha(model.generate(None, n=2, seed=7)),
        "moved": _sha(model.generate(moved, n=2, seed=7)),
    }
    if accepts:
        result["pitch60"] = _sha(model.generate(None, n=2, seed=7, pitch=60.0))
    return result


def _starter_folder() -> Path:
    try:
        from synth_core.paths import resources_dir
    except ImportError:  # checkouts before the wheel carried resources/
        return Path(runs.__file__).resolve().parents[1] / "resources" / "models"
    return resources_dir() / "models"


def main() -> None:
    out = Path(sys.argv[1])
    names = sorted(p.name for p in _starter_folder().iterdir() if (p / "model.json").is_file())
    names += list(INSTRUMENTS)
    with torch.no_grad():
        result = {name: fingerprint(name) for name in names}
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    sys.stdout.write(f"{len(result)} models fingerprinted → {out}\n")


if __name__ == "__main__":
    main()
