"""The sound map's figures (``timbrelab bench --family map``): how long a folder takes to lay
out, and how long the map takes to redraw at 10 000 points.

Embedding times use generated feature rows of the real width (:data:`synth_core.maps.
FEATURE_SIZE`, standardised as the map standardises them), clustered like a folder of a few
kinds of sound, so they measure the layout and not the audio analysis, which is timed on its own
per clip. The frame time needs Qt, which the core never imports: it is measured in a child
process by :func:`app.panels.map_view.measure_frame_times` on Qt's ``offscreen`` platform.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np

from synth_core import maps
from synth_core.benchmarks.measure import BenchResult

EMBED_SIZES = (1_000, 10_000)
FRAME_POINTS = 10_000
FRAME_TIMEOUT_S = 300.0


def _feature_rows(n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` rows like a folder's embedding input: 12 kinds of sound, each a cloud."""
    rng = np.random.default_rng(seed)
    width = maps.FEATURE_SIZE - 2  # the map leaves out pitch and duration
    centres = rng.normal(scale=3.0, size=(12, width))
    rows = centres[rng.integers(0, 12, n)] + rng.normal(size=(n, width))
    return ((rows - rows.mean(0)) / rows.std(0)).astype(np.float32)


def bench_embedding(sizes: tuple[int, ...] = EMBED_SIZES) -> list[BenchResult]:
    """Seconds for the PCA and the t-SNE layouts of ``sizes`` clips."""
    results = []
    maps.pca_layout(_feature_rows(50))  # the first linear-algebra call loads BLAS: not a layout
    for n in sizes:
        x = _feature_rows(n)
        for method, layout in (("pca", maps.pca_layout), ("tsne", maps.tsne_layout)):
            started = time.perf_counter()
            layout(x)
            seconds = time.perf_counter() - started
            results.append(
                BenchResult(
                    "map", f"{n} clips", f"{method} layout", seconds, "s", {"dims": x.shape[1]}
                )
            )
    return results


def bench_features(clips: int = 64) -> list[BenchResult]:
    """Milliseconds per clip to analyse generated 1-s clips (no cache), the cost of a first
    opening of a folder."""
    import tempfile
    from pathlib import Path

    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(44100) / 44100
    with tempfile.TemporaryDirectory(prefix="timbrelab-map-bench-") as folder:
        paths = []
        for i in range(clips):
            tone = np.sin(2 * np.pi * (110 + 20 * i) * t) * np.exp(-t * (2 + i % 7))
            audio = 0.5 * tone + 0.05 * rng.normal(size=t.size) * np.exp(-8 * t)
            path = Path(folder) / f"clip_{i:03d}.wav"
            sf.write(path, audio.astype(np.float32), 44100)
            paths.append(path)
        started = time.perf_counter()
        maps.folder_features(paths, use_cache=False)
        seconds = time.perf_counter() - started
    return [BenchResult("map", f"{clips} clips", "features per clip", seconds / clips * 1000, "ms")]


def bench_frame_time(points: int = FRAME_POINTS) -> list[BenchResult]:
    """Median and 95th-percentile redraw time of a ``points``-point map while it pans and zooms
    (none when the app is not installed here)."""
    if importlib.util.find_spec("PySide6") is None or importlib.util.find_spec("app") is None:
        return []
    code = (
        "import json, sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication(sys.argv[:1])\n"
        "from app.panels.map_view import measure_frame_times\n"
        f"print(json.dumps(measure_frame_times({int(points)})))\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=FRAME_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return [
            BenchResult(
                "map",
                f"{points} points",
                "frame time (failed)",
                float("nan"),
                "ms",
                {"error": tail[0]},
            )
        ]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    detail = {"first_ms": round(figures["first_ms"], 1), "platform": "offscreen"}
    return [
        BenchResult(
            "map", f"{points} points", "frame time median", figures["median_ms"], "ms", detail
        ),
        BenchResult("map", f"{points} points", "frame time p95", figures["p95_ms"], "ms", detail),
    ]


def bench_map() -> list[BenchResult]:
    """Every map figure: frame time at 10 000 points, features per clip, and the layouts of
    1 000 and 10 000 clips."""
    return bench_frame_time() + bench_features() + bench_embedding()
