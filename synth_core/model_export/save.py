"""Write a model as a TorchScript or ONNX file that plays without Timbre Lab.

The module comes from the family's ``export_module()`` (nn~'s layout, :mod:`.nn_tilde`); this
module compiles or exports it, checks the weights first, and writes a JSON sidecar beside it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from synth_core import __version__
from synth_core.errors import TimbreLabError
from synth_core.export import ExportError, write_json
from synth_core.models.base import SoundModel


def export_model(
    model: SoundModel, path: str | Path, *, format: str, model_id: str | None = None
) -> Path:
    """Write ``model`` as a TorchScript or ONNX file that plays without Timbre Lab.

    The module comes from ``model.export_module()`` (see :mod:`synth_core.model_export`): nn~'s
    layout, methods on ``[batch, channels, frames]`` signals. TorchScript keeps every method
    (``decode``, ``forward``, and ``encode`` for autoencoders), compiled by
    ``torch.jit.script``; ONNX holds ``decode`` alone (input ``x``, output ``audio``), for
    modules whose ``onnx_blocker()`` is empty. A JSON sidecar (``FILE.json``) names the family,
    sample rate, methods with their channels, ratios and labels, and the controls.

    ``model_id`` names the model in messages (default: its family).

    Raises
    ------
    ExportError
        The family has no standalone decoder (the message says why), the format is unknown,
        the decoder cannot be written as ONNX (the message says why), or writing fails.
    CheckpointError
        The model's weights hold NaN or infinity (the export would play silence).
    """
    from synth_core.runs import check_finite_weights

    if format not in ("torchscript", "onnx"):
        raise ExportError(f"format {format!r} is not torchscript or onnx")
    module = model.export_module()
    if module is None:
        raise ExportError(
            f"the {model.family!r} family cannot be exported: {model.export_refusal}; "
            "use `timbrelab generate` to render sounds from it"
        )
    check_finite_weights(model, model_id or model.family)
    module = module.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "onnx":
        blocker = module.onnx_blocker()
        if blocker:
            raise ExportError(
                f"the {model.family!r} decoder cannot be written as ONNX: {blocker}; "
                "export it with --format torchscript"
            )
    try:
        if format == "torchscript":
            with warnings.catch_warnings():
                # torch 2.13 marks TorchScript deprecated; it is still the format nn~ loads
                warnings.simplefilter("ignore", DeprecationWarning)
                scripted = torch.jit.script(module)
            scripted.save(str(path))
        else:
            _save_onnx(module, path, family=model.family)
    except TimbreLabError:
        raise
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from None
    except Exception as error:  # torch raises many types here; the user needs one clear line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(
            f"cannot export the {model.family!r} model as {format}: {first}"
        ) from None
    methods = module.get_methods() if format == "torchscript" else ["decode"]
    write_json(
        path.with_suffix(path.suffix + ".json"),
        {
            "family": model.family,
            "format": format,
            "sample_rate": model.sample_rate,
            "methods": {name: _method_layout(module, name) for name in methods},
            "controls": [c.to_dict() for c in model.controls()],
            "notes": module.export_notes(),
            "timbrelab": __version__,
        },
    )
    return path


def _method_layout(module: torch.nn.Module, name: str) -> dict[str, Any]:
    """What nn~ reads of method ``name``: channels and time ratios in and out, and labels."""
    in_channels, in_ratio, out_channels, out_ratio = getattr(module, f"{name}_params").tolist()
    return {
        "in_channels": in_channels,
        "in_ratio": in_ratio,
        "out_channels": out_channels,
        "out_ratio": out_ratio,
        "input_labels": list(getattr(module, f"{name}_input_labels")),
        "output_labels": list(getattr(module, f"{name}_output_labels")),
    }


def _save_onnx(module: torch.nn.Module, path: Path, *, family: str) -> None:
    """``module.decode`` as an ONNX graph (torch's dynamo exporter), batch and frames dynamic,
    with the sample rate, family and ``decode``'s layout in the model's metadata."""
    try:
        import onnx  # noqa: F401  (the exporter needs both; say so before it fails deep inside)
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError(
            "ONNX export needs the onnx and onnxscript packages: pip install 'timbrelab[onnx]'"
        ) from None
    from synth_core.model_export.nn_tilde import DecodeOnly

    # two notes in each of two frames: an example of size 1 would fix those sizes in the graph
    example = module.example_input().repeat(2, 1, 2)
    batch, frames = torch.export.Dim("batch"), torch.export.Dim("frames")
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the exporter's notes on optional torchvision operators
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                DecodeOnly(module),
                (example,),
                dynamo=True,
                input_names=["x"],
                output_names=["audio"],
                dynamic_shapes=({0: batch, 2: frames},),
                verbose=False,
                # onnxscript's rewrite pass took 100 of the vae's 160 s of export (cProfile) and
                # ONNX Runtime folds the same constants when it loads the graph
                optimize=False,
            )
    finally:
        quiet.setLevel(level)
    layout = _method_layout(module, "decode")
    program.model.metadata_props.update(
        {
            "sample_rate": str(module.sample_rate),
            "family": family,
            "timbrelab": __version__,
            **{key: json.dumps(value) for key, value in layout.items()},
        }
    )
    program.save(str(path))
