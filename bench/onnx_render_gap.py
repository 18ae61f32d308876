"""How far an ONNX export of a harmonic spectral model renders from the app, note by note, beside
how far torch's own render moves when the decoded spectrum is nudged by one part in 10⁷
(docs/experiments/harmonic-axis.md, "Known gap").

    .venv/bin/python bench/onnx_render_gap.py [--steps 40]

A tiny vae (the one ``tests/core/test_harmonic_axis.py`` trains) learns ten decaying notes, MIDI
48–67, on the harmonic axis; each note is then rendered by the app (``model.generate``) and by
ONNX Runtime from the same latent and pitch. If the two columns rise and fall together, the gap
is the renderer amplifying rounding, not a difference in what the export computes.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np
import torch

from synth_core import dsp
from synth_core.dataset import ClipSet
from synth_core.model_export.save import export_model
from synth_core.model_export.spectral import generation_input
from synth_core.models.vae import VAEConfig, VAEModel
from synth_core.train import Budget, Trainer

RATE, SECONDS = 22050, 0.3
TRAIN = [48.0, 50.0, 52.0, 55.0, 57.0, 59.0, 60.0, 62.0, 64.0, 67.0]
PLAYED = [50.0, 55.0, 60.0, 64.0, 66.0, 67.0, 70.0, 75.0]


def notes(midi: list[float]) -> ClipSet:
    """Decaying notes with five partials of falling level and a little noise."""
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(int(RATE * SECONDS)) / RATE
    f0 = dsp.midi_to_hz(torch.tensor(midi))[:, None]
    tones = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 6))
    noise = 0.02 * torch.randn(tones.shape, generator=generator)
    audio = 0.3 * (tones + noise) * torch.exp(-6 * t)
    return ClipSet(audio, torch.tensor(midi), [f"n{i}" for i in range(len(midi))], RATE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    import onnxruntime

    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = VAEConfig(
        sample_rate=RATE, clip_seconds=SECONDS, channels=16, latent_channels=2, n_controls=2,
        pca_components=4, batch_size=4, learning_rate=3e-3, refine_steps=0, texture_bands=0,
    )  # fmt: skip
    model = VAEModel.from_config(config)
    Trainer(model, notes(TRAIN), Budget(steps=args.steps), device="cpu").run()
    model.eval()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        export_model(model, path, format="onnx")
        session = onnxruntime.InferenceSession(str(path))
        print(f"harmonic axis at MIDI {float(model.harmonic_reference):.0f}, "
              f"{config.render_iterations} render iterations")  # fmt: skip
        with torch.no_grad():
            for midi in PLAYED:
                x = generation_input(model, {}, seed=3, pitch=midi)
                app = model.generate({}, n=1, seed=3, pitch=midi)[0].numpy()
                exported = session.run(["audio"], {"x": x.numpy()})[0].reshape(-1)[: app.size]
                pitch = torch.full((1,), midi)
                spec = model.decode(x[:, :-1, 0], pitch)
                nudge = 1 + 1e-7 * torch.randn(
                    spec.shape, generator=torch.Generator().manual_seed(1)
                )
                moved = (model.render(spec, pitch) - model.render(spec * nudge, pitch)).abs().max()
                print(
                    f"MIDI {midi:4.0f}  ONNX Runtime against the app {np.abs(exported - app).max():.1e}"
                    f"   torch against itself, nudged: {float(moved):.1e}"
                )


if __name__ == "__main__":
    main()
