"""``timbrelab export-model MODEL --format torchscript|onnx --out FILE``."""

from __future__ import annotations

import argparse
import sys

from synth_core.errors import CheckpointError
from synth_core.model_export.save import export_model
from synth_core.runs import open_model


def cli_export_model(args: argparse.Namespace) -> int:
    """Write the model's decoder as a TorchScript or ONNX file (see
    :func:`synth_core.model_export.save.export_model`) and say where."""
    try:
        model = open_model(args.run)
    except FileNotFoundError as error:
        raise CheckpointError(f"no such model: {error}", path=args.run) from None
    path = export_model(model, args.out, format=args.format, model_id=args.run)
    sys.stdout.write(f"wrote {path}\n")
    return 0
