"""The comparison as one self-contained HTML page a teacher opens with no server: every sound an
``<audio>`` element with its WAV embedded as a base64 ``data:`` URI, every spectrogram a PNG
embedded the same way, the table of scores, and each run's loss curve as inline SVG.

PNGs are written here with zlib (a greyscale-to-colour image needs only the IHDR, IDAT and IEND
chunks), so the report needs no plotting library.
"""

from __future__ import annotations

import base64
import html
import json
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from synth_core.compare import COMPARE_FILE, REPORT_FILE, read_compare

SPECTROGRAM_HEIGHT = 96
"""Pixels: the spectrogram's frequency rows (log-spaced from 40 Hz to the Nyquist)."""
CURVE_WIDTH, CURVE_HEIGHT = 320, 120

COLUMNS: tuple[tuple[str, str, str], ...] = (
    # key, heading, format
    ("one_nn", "1-NN (0.5 best)", "{:.3f}"),
    ("frechet", "Fréchet", "{:.1f}"),
    ("memorisation", "Memorisation", "{:.2f}"),
    ("sc_db", "Reconstruction SC dB", "{:.2f}"),
    ("pitch_cents", "Pitch error ¢", "{:.1f}"),
    ("train_seconds", "Training s", "{:.1f}"),
    ("steps", "Steps", "{:d}"),
    ("realtime_factor", "Real-time ×", "{:.1f}"),
    ("model_bytes", "Model size", "bytes"),
)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of ``rgb`` (``[height, width, 3]`` uint8)."""
    height, width, _ = rgb.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, -1)], axis=1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def spectrogram_rgb(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """A log-frequency, dB-scaled spectrogram of mono ``audio`` as an RGB image (low notes at the
    bottom), 80 dB of range under the loudest cell, on a dark-to-warm colour ramp."""
    n_fft, hop = 1024, 256
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size < n_fft:
        audio = np.pad(audio, (0, n_fft - audio.size))
    frames = 1 + (audio.size - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    mag = np.abs(np.fft.rfft(audio[index] * np.hanning(n_fft), axis=1)).T
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    wanted = np.geomspace(40.0, sample_rate / 2, SPECTROGRAM_HEIGHT)
    rows = np.clip(np.searchsorted(freqs, wanted), 0, mag.shape[0] - 1)
    db = 20 * np.log10(mag[rows] + 1e-9)
    level = np.clip((db - (db.max() - 80.0)) / 80.0, 0.0, 1.0)[::-1]
    ramp = np.stack([level**0.6, level**1.6, 0.35 * (1 - level) * level + level**4], axis=-1)
    return (ramp * 255).astype(np.uint8)


def _data_uri(kind: str, payload: bytes) -> str:
    return f"data:{kind};base64,{base64.b64encode(payload).decode('ascii')}"


def _sound_cell(out: Path, relative: str) -> str:
    import soundfile as sf

    path = out / relative
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    image = png_bytes(spectrogram_rgb(audio.mean(axis=1), rate))
    name = html.escape(Path(relative).name)
    return (
        '<figure class="sound">'
        f'<img alt="spectrogram of {name}" src="{_data_uri("image/png", image)}">'
        f'<audio controls preload="auto" data-file="{name}" '
        f'src="{_data_uri("audio/wav", path.read_bytes())}"></audio>'
        f"<figcaption>{name}</figcaption></figure>"
    )


def cell_text(row: dict[str, Any], key: str, pattern: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if pattern == "bytes":
        return f"{value / 1024:.0f} KiB" if value < 1024**2 else f"{value / 1024**2:.1f} MiB"
    return pattern.format(value)


def _loss_curve(out: Path, row: dict[str, Any]) -> str:
    """The run's first loss over steps, from ``history.jsonl``, as an SVG polyline."""
    from synth_core import checkpoint as ckpt

    history = out / row["run"] / ckpt.HISTORY_FILE
    points: list[tuple[float, float]] = []
    name = ""
    if history.is_file():
        for line in history.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            losses = {
                k: v
                for k, v in entry.items()
                if k not in ("step", "elapsed_s", "lr", "time") and isinstance(v, int | float)
            }
            if not losses or "step" not in entry:
                continue
            name = name or next(iter(losses))
            value = losses.get(name)
            if isinstance(value, int | float) and math.isfinite(value):
                points.append((float(entry["step"]), float(value)))
    if len(points) < 2:
        return '<p class="curve">no loss history</p>'
    steps, values = np.array(points).T
    x = (steps - steps.min()) / max(steps.max() - steps.min(), 1e-9) * (CURVE_WIDTH - 20) + 10
    span = max(values.max() - values.min(), 1e-12)
    y = CURVE_HEIGHT - 10 - (values - values.min()) / span * (CURVE_HEIGHT - 30)
    polyline = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))
    label = html.escape(f"{name}: {values[0]:.4g} → {values[-1]:.4g} over {int(steps.max())} steps")
    return (
        f'<svg class="curve" width="{CURVE_WIDTH}" height="{CURVE_HEIGHT}" '
        f'viewBox="0 0 {CURVE_WIDTH} {CURVE_HEIGHT}" role="img" aria-label="{label}">'
        f'<rect width="100%" height="100%" fill="#1d1f24"/>'
        f'<polyline fill="none" stroke="#f0a040" stroke-width="1.5" points="{polyline}"/>'
        f'<text x="8" y="14" fill="#ccc" font-size="11">{label}</text></svg>'
    )


STYLE = """
body{font-family:system-ui,sans-serif;background:#15171b;color:#e6e6e6;margin:2em}
table{border-collapse:collapse;margin:1em 0}th,td{padding:4px 10px;border-bottom:1px solid #333}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{text-align:left;color:#aaa}
.strip{display:flex;flex-wrap:wrap;gap:10px}.sound{margin:0;width:240px}
.sound img{width:240px;height:96px;image-rendering:pixelated;display:block}
.sound audio{width:240px}figcaption{font-size:11px;color:#999}
section{border-top:1px solid #333;padding-top:.5em}h2{margin-bottom:.2em}
"""


def render_report(out: str | Path) -> str:
    """The HTML page of the comparison in ``out`` (from its ``compare.json`` and sounds)."""
    out = Path(out)
    data = read_compare(out)
    rows = data["rows"]
    budget = (
        f"{data['minutes']:g} min" if data.get("minutes") is not None else f"{data['steps']} steps"
    )
    title = f"Timbre Lab comparison: {len(rows)} families, {budget} each"
    heading = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in COLUMNS)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num" data-key="{key}">{cell_text(row, key, pattern)}</td>'
            for key, _, pattern in COLUMNS
        )
        body.append(
            f'<tr data-family="{html.escape(row["family"])}"><th>{html.escape(row["title"])} '
            f"({html.escape(row['family'])})</th>{cells}</tr>"
        )
    baseline = data.get("baseline") or {}
    if baseline:
        cells = "".join(
            f'<td class="num" data-key="{key}">{cell_text(baseline, key, pattern)}</td>'
            for key, _, pattern in COLUMNS
        )
        body.append(
            f'<tr class="baseline" data-family="baseline"><th>{html.escape(baseline["name"])}'
            f"</th>{cells}</tr>"
        )
    sections = []
    real = data.get("real") or {}
    if real:
        strip = "".join(_sound_cell(out, p) for p in real["sounds"])
        sections.append(
            f'<section data-family="real"><h2>Real clips</h2><p>from the '
            f"{html.escape(real['source'])} ({real['clips']} clips)</p>"
            f'<div class="strip">{strip}</div></section>'
        )
    for row in rows:
        strip = "".join(_sound_cell(out, p) for p in row["sounds"])
        sections.append(
            f'<section data-family="{html.escape(row["family"])}"><h2>{html.escape(row["title"])}'
            f'</h2>{_loss_curve(out, row)}<div class="strip">{strip}</div></section>'
        )
    if baseline:
        strip = "".join(_sound_cell(out, p) for p in baseline["sounds"])
        sections.append(
            f'<section data-family="baseline"><h2>{html.escape(baseline["name"])}</h2>'
            "<p>a Gaussian over the principal components of the training spectra: the floor "
            f'a model should beat</p><div class="strip">{strip}</div></section>'
        )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in data.get("notes", []))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Data: {html.escape(str(data['data']))}. 1-NN: 0.5 means the generated sounds "
        "cannot be told from real ones, 1.0 that they always can; lower Fréchet, SC and pitch "
        "error are better; memorisation below 0.8 means copies of training clips.</p>"
        f'<table id="scores"><thead><tr><th>Family</th>{heading}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
        f"{''.join(sections)}"
        f"{f'<h2>Notes</h2><ul>{notes}</ul>' if notes else ''}"
        "</body></html>\n"
    )


def write_report(out: str | Path) -> Path:
    """Write ``OUT/report.html`` from ``OUT/compare.json``; returns its path."""
    path = Path(out) / REPORT_FILE
    path.write_text(render_report(out), encoding="utf-8")
    return path


__all__ = [
    "COLUMNS",
    "COMPARE_FILE",
    "png_bytes",
    "render_report",
    "spectrogram_rgb",
    "write_report",
]
