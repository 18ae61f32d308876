"""Sample packs a sampler loads: the current sound across a key range, as an SFZ instrument.

:func:`export_pack` renders the model's current sound at each pitch of a key range (and in
velocity layers), writes each sample with the sidecar that recreates it
(:func:`synth_core.export.write_sound`), and writes an SFZ file beside them whose regions give
each sample its keys, root key, velocities and, for sustained sounds, a loop. ``timbrelab
export-pack`` (:mod:`synth_core.commands.export_pack`) and the app's export dialog both call it.

How a model is played across the keys:

* a model that takes ``pitch=`` (pitch-conditioned families, physical instruments, and families
  that transpose) is rendered at every pitch of the range; each sample's root key is that pitch,
  with a ``tune`` correction when the measured pitch is off by more than a cent;
* a model that does not is rendered once; the sampler transposes that one sample over the whole
  range from its measured pitch, or plays it untransposed when no pitch is found ("unpitched").

Velocity layers come from the model's loudness-like control where it has one (``pressure``,
``gain``…), rendered softer for lower layers; otherwise the same sample is layered at lower
``volume``. One gain for the whole pack brings its loudest sample to the peak target, so the
levels between keys and layers are the model's own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from synth_core import __version__, dsp
from synth_core import audio as audio_io
from synth_core.control_values import fill_values
from synth_core.export import (
    ExportError,
    ExportSettings,
    SoundRecipe,
    export_path,
    file_stem,
    write_sound,
)
from synth_core.models.base import Control, SoundModel

#: Control names that set how loud or how hard a sound is played, in order of preference.
LOUDNESS_CONTROLS = ("velocity", "loudness", "gain", "level", "volume", "amplitude", "pressure")
#: The softest layer of a control-driven pack plays the control at this fraction of its position.
SOFTEST_POSITION = 0.5
#: The softest layer of a gain-only pack is this much quieter, dB.
SOFTEST_VOLUME_DB = -12.0
MAX_LAYERS = 16
#: A loop is kept only where the looped waveform matches the start of the loop this well
#: (normalised cross-correlation of the two windows).
LOOP_MATCH = 0.9


@dataclass(frozen=True)
class Region:
    """One ``<region>`` of the SFZ: a sample file and where on the keyboard it plays.

    ``root`` is the MIDI note the sample sounds at when played untransposed (None: unpitched,
    played without transposition); ``tune`` the cents the sampler adds to correct it.
    ``loop`` is ``(start, end)`` in samples, end inclusive, or None.
    """

    sample: Path
    lokey: int
    hikey: int
    root: int | None
    tune: int
    lovel: int
    hivel: int
    volume_db: float
    loop: tuple[int, int] | None
    sustained: bool
    measured_pitch: float | None


@dataclass(frozen=True)
class PackResult:
    """What :func:`export_pack` wrote: the SFZ file, the samples (each with a sidecar), and
    whether it was cancelled (then no SFZ is written)."""

    sfz: Path | None
    samples: list[Path]
    regions: list[Region]
    cancelled: bool


def parse_pitches(text: str) -> list[int]:
    """``"36:84:3"`` → 36, 39 … 84 (start:stop:step, stop included when on the grid);
    ``"48:60"`` steps by one; ``"60"`` is one note. Notes are MIDI 0–127.

    Raises :class:`ExportError` naming the text for anything else.
    """
    parts = text.strip().split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if not 1 <= len(numbers) <= 3 or len(numbers) != len(parts):
        raise ExportError(
            f"key range {text!r} is not START:STOP:STEP in MIDI notes (such as 36:84:3)"
        )
    start, stop, step = (numbers + [numbers[0], 1][len(numbers) - 1 :])[:3]
    if not (0 <= start <= stop <= 127) or step < 1:
        raise ExportError(
            f"key range {text!r}: notes must be 0–127, START ≤ STOP and STEP ≥ 1 (such as 36:84:3)"
        )
    return list(range(start, stop + 1, step))


def key_ranges(pitches: list[int]) -> list[tuple[int, int]]:
    """The keys each pitch's sample plays: from halfway to its lower neighbour to halfway to its
    upper one; the outer samples reach as far beyond the range as their inner half."""
    if len(pitches) == 1:
        return [(pitches[0], pitches[0])]
    highs = [(a + b - 1) // 2 for a, b in zip(pitches, pitches[1:], strict=False)]
    lows = [h + 1 for h in highs]
    first_low = max(0, pitches[0] - (highs[0] - pitches[0]))
    last_high = min(127, pitches[-1] + (pitches[-1] - lows[-1]))
    return list(zip([first_low, *lows], [*highs, last_high], strict=True))


def velocity_ranges(layers: int) -> list[tuple[int, int]]:
    """``layers`` equal bands of MIDI velocity 1–127, softest first."""
    edges = [round(1 + 127 * i / layers) for i in range(layers + 1)]
    return [(edges[i], edges[i + 1] - 1 if i < layers - 1 else 127) for i in range(layers)]


def loudness_control(controls: list[Control]) -> Control | None:
    """The control that sets how loud or hard the sound is played, or None."""
    by_name = {c.name: c for c in controls}
    return next((by_name[name] for name in LOUDNESS_CONTROLS if name in by_name), None)


def measure_pitch(samples: np.ndarray, sample_rate: int) -> float | None:
    """The sound's pitch as a (fractional) MIDI note, or None when it has none.

    YIN (:func:`synth_core.dsp.f0_hz`) on several windows of the part that is still loud; the
    median is the pitch when at least two windows agree within 50 cents.
    """
    x = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    window = 2048
    level = np.abs(samples)
    loud = np.flatnonzero(level > 0.05 * float(level.max(initial=0.0)))
    if loud.size == 0:
        return None
    end = int(loud[-1])
    starts = [s for s in (0.03, 0.08, 0.15, 0.25, 0.4) if s * sample_rate + 2 * window < end]
    if not starts:
        starts = [0.0]
    notes = []
    for start in starts:
        hz = float(dsp.f0_hz(x, sample_rate, fmin=30.0, fmax=5000.0, start_s=start))
        if math.isfinite(hz) and hz > 0:
            notes.append(69.0 + 12.0 * math.log2(hz / 440.0))
    if len(notes) < min(2, len(starts)):
        return None
    median = float(np.median(notes))
    agreeing = [n for n in notes if abs(n - median) <= 0.5]
    if len(agreeing) < min(2, len(starts)):
        return None
    return float(np.median(agreeing))


def sustained_part(samples: np.ndarray, sample_rate: int) -> tuple[int, int] | None:
    """``(start, end)`` samples of the held part of a sustained sound, or None for a sound that
    decays (a one-shot).

    The held part is the stretch around the loudest moment where the level stays within 6 dB
    of it; it is held when it lasts at least 0.15 s and its last quarter is within 3 dB of its first.
    """
    hop = 256
    frames = samples.size // hop
    if frames < 4:
        return None
    rms = np.sqrt(np.mean(samples[: frames * hop].reshape(frames, hop) ** 2, axis=1)) + 1e-12
    peak = int(np.argmax(rms))
    start = end = peak
    while start > 0 and rms[start - 1] >= 0.5 * rms[peak]:
        start -= 1
    while end + 1 < frames and rms[end + 1] >= 0.5 * rms[peak]:
        end += 1
    length = end - start + 1
    if length * hop < 0.15 * sample_rate:
        return None
    quarter = max(1, length // 4)
    first = float(np.mean(rms[start : start + quarter]))
    last = float(np.mean(rms[end + 1 - quarter : end + 1]))
    if 20.0 * math.log10(first / last) > 3.0:
        return None
    return start * hop, (end + 1) * hop


def find_loop(
    samples: np.ndarray, sample_rate: int, part: tuple[int, int]
) -> tuple[tuple[int, int], float] | None:
    """A loop inside the held ``part``: ``((start, end), match)`` with ``end`` inclusive, or
    None when no loop length makes the waveform after the loop match its start.

    The loop starts a quarter into the held part; its length ``L`` (at least 50 ms) maximises
    the normalised cross-correlation between the window at the start and the window ``L``
    later, so jumping from ``end`` back to ``start`` continues the waveform (and, for a pitched
    sound, lands on a whole number of periods).
    """
    a, b = part
    start = a + (b - a) // 4
    window = min(2048, (b - start) // 3)
    shortest = max(window, int(0.05 * sample_rate))
    longest = b - start - window
    if window < 256 or longest <= shortest:
        return None
    segment = np.asarray(samples[start:b], dtype=np.float64)
    reference = segment[:window]
    n = 1 << math.ceil(math.log2(segment.size + window))
    cross = np.fft.irfft(np.fft.rfft(segment, n) * np.conj(np.fft.rfft(reference, n)), n)
    energy = np.concatenate(([0.0], np.cumsum(segment**2)))
    lags = np.arange(shortest, longest + 1)
    norms = np.sqrt((energy[lags + window] - energy[lags]) * float(reference @ reference)) + 1e-12
    match = cross[lags] / norms
    best = int(np.argmax(match))
    if match[best] < LOOP_MATCH:
        return None
    return (start, start + int(lags[best]) - 1), float(match[best])


def export_pack(
    model: SoundModel,
    out_dir: str | Path,
    *,
    model_id: str,
    values: Mapping[str, float] | None = None,
    pitches: list[int],
    velocities: int = 1,
    seed: int = 0,
    settings: ExportSettings | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PackResult:
    """Render the sound ``values`` across ``pitches`` in ``velocities`` layers and write the
    samples, their sidecars and an SFZ instrument into ``out_dir``.

    Parameters
    ----------
    model : SoundModel
    out_dir : path
        Folder for everything (created); every name is checked to stay inside it.
    model_id : str
        How sidecars name the model (a model id, what :func:`synth_core.runs.open_model` accepts).
    values : mapping name → value, optional
        The sound (slider values); missing names take their defaults.
    pitches : list of int
        MIDI notes to render (see :func:`parse_pitches`); for a model that does not take a
        pitch, the key range its one sample is spread over.
    velocities : int, 1–16
        Velocity layers.
    seed : int
        Every sample is rendered with this seed, so the pack is one instrument.
    settings : ExportSettings, optional
        Format, bit depth, rate, fade and the peak target of the loudest sample; ``normalise``
        and ``pattern`` are the pack's own.
    overwrite : bool
        Replace files already there; otherwise any clash is refused before rendering.
    progress : callable(done, total), optional
    should_stop : callable() -> bool, optional
        Polled before each render; True stops (no SFZ is written).

    Raises
    ------
    ExportError
        Bad settings or key range, or files already there without ``overwrite``.
    CheckpointError
        When the model's weights hold NaN or infinity.
    """
    from synth_core.runs import check_finite_weights

    settings = settings or ExportSettings()
    settings.validate()
    if not pitches or any(not 0 <= p <= 127 for p in pitches):
        raise ExportError(f"key range {pitches!r}: notes must be MIDI 0–127")
    if not 1 <= velocities <= MAX_LAYERS:
        raise ExportError(f"velocity layers must be 1–{MAX_LAYERS}, got {velocities}")
    out_dir = Path(out_dir)
    sound = fill_values(model.controls(), values or {})
    per_pitch = bool(model.accepts_pitch)
    sfz_path, plan, loudness, layers = _layout(
        model, out_dir, model_id=model_id, pitches=pitches, velocities=velocities, settings=settings
    )
    if not overwrite:
        _refuse_existing([sfz_path, *plan.values(), *_sidecars(plan.values())])
    check_finite_weights(model, model_id)

    rendered: dict[tuple[int | None, int], tuple[dict[str, float], np.ndarray]] = {}
    total = len(plan)
    for done, (pitch, layer) in enumerate(plan, start=1):
        if should_stop is not None and should_stop():
            return PackResult(None, [], [], cancelled=True)
        layer_values = _layer_values(sound, loudness, layer, layers)
        with torch.no_grad():
            audio = model.generate(layer_values, n=1, seed=seed, pitch=pitch)[0]
        samples = np.asarray(audio.detach().cpu().numpy(), dtype=np.float64)
        if int(model.sample_rate) != int(settings.sample_rate):
            samples = audio_io.resample(samples, int(model.sample_rate), int(settings.sample_rate))
        # float32 until the pack's gain is known: a full keyboard in 16 layers stays in memory
        rendered[(pitch, layer)] = (layer_values, np.asarray(samples, dtype=np.float32))
        if progress is not None:
            progress(done, total)

    peak = max(float(np.max(np.abs(s))) for _, s in rendered.values())
    if peak == 0.0 or not math.isfinite(peak):
        raise ExportError(f"{model_id}: the sound is silent at every key; nothing to sample")
    gain_db = settings.peak_dbfs - 20.0 * math.log10(peak)
    gain = 10.0 ** (gain_db / 20.0)
    write_settings = replace(settings, normalise="none")
    fade = int(round(settings.fade_out_s * settings.sample_rate))
    key_of = dict(zip(pitches, key_ranges(pitches), strict=True))
    velocity_bands = velocity_ranges(velocities)
    regions: list[Region] = []
    written: list[Path] = []
    for (pitch, layer), (layer_values, samples) in rendered.items():
        samples = samples.astype(np.float64) * gain
        measured = measure_pitch(samples, int(settings.sample_rate))
        part = sustained_part(samples[: samples.size - fade], int(settings.sample_rate))
        found = None if part is None else find_loop(samples, int(settings.sample_rate), part)
        recipe = SoundRecipe(
            model=model_id,
            family=model.family,
            controls=layer_values,
            seed=seed,
            pitch=None if pitch is None else float(pitch),
            n=layer,
            extra={
                "pack": sfz_path.name,
                "gain_db": round(gain_db, 4),
                "velocity_layer": layer,
                "measured_pitch": None if measured is None else round(measured, 3),
            },
        )
        path = write_sound(
            samples, int(settings.sample_rate), plan[(pitch, layer)], write_settings, recipe
        )
        written.append(path)
        lokey, hikey = key_of[pitch] if pitch is not None else (pitches[0], pitches[-1])
        root, tune = _root(pitch, measured)
        bands = (
            [velocity_bands[layer - 1]]
            if loudness is not None or velocities == 1
            else velocity_bands
        )
        for index, (lovel, hivel) in enumerate(bands, start=1):
            volume = 0.0
            if loudness is None and velocities > 1:
                volume = SOFTEST_VOLUME_DB * (velocities - index) / (velocities - 1)
            regions.append(
                Region(
                    sample=path,
                    lokey=lokey,
                    hikey=hikey,
                    root=root,
                    tune=tune,
                    lovel=lovel,
                    hivel=hivel,
                    volume_db=volume,
                    loop=None if found is None else found[0],
                    sustained=part is not None,
                    measured_pitch=measured,
                )
            )
    header = _header(model, model_id, sound, seed, loudness, per_pitch, velocities)
    write_sfz(sfz_path, regions, header=header, layered=velocities > 1)
    return PackResult(sfz_path, written, regions, cancelled=False)


def pack_files(
    model: SoundModel,
    out_dir: str | Path,
    *,
    model_id: str,
    pitches: list[int],
    velocities: int,
    settings: ExportSettings | None = None,
) -> list[Path]:
    """Every file :func:`export_pack` would write (the SFZ, each sample and its sidecar), before
    anything is rendered: what the export dialog checks for clashes."""
    settings = settings or ExportSettings()
    settings.validate()
    sfz_path, plan, _, _ = _layout(
        model, Path(out_dir), model_id=model_id, pitches=pitches, velocities=velocities,
        settings=settings,
    )  # fmt: skip
    return [sfz_path, *plan.values(), *_sidecars(plan.values())]


def _layout(
    model: SoundModel,
    out_dir: Path,
    *,
    model_id: str,
    pitches: list[int],
    velocities: int,
    settings: ExportSettings,
) -> tuple[Path, dict[tuple[int | None, int], Path], Control | None, int]:
    """The SFZ's path, the sample file of each (pitch, layer) render, the loudness control the
    layers are rendered with (None: layered by volume) and the number of renders per pitch."""
    loudness = loudness_control(model.controls()) if velocities > 1 else None
    render_pitches: list[int | None] = list(pitches) if model.accepts_pitch else [None]
    layers = velocities if loudness is not None else 1
    plan = _plan(out_dir, model_id, render_pitches, layers, settings)
    stem = file_stem("{model}", model=model_id, seed=0, n=1, pitch=None)
    return out_dir / f"{stem}.sfz", plan, loudness, layers


def _plan(
    out_dir: Path,
    model_id: str,
    pitches: list[int | None],
    layers: int,
    settings: ExportSettings,
) -> dict[tuple[int | None, int], Path]:
    """The file of each (pitch, layer) render, every one a safe name inside ``out_dir``."""
    taken: set[str] = set()
    plan = {}
    for pitch in pitches:
        pattern = "{model}_v{n}" if pitch is None else "{model}_p{pitch}_v{n}"
        for layer in range(1, layers + 1):
            plan[(pitch, layer)] = export_path(
                out_dir,
                pattern,
                model=model_id,
                seed=0,
                n=layer,
                pitch=None if pitch is None else float(pitch),
                extension=settings.extension,
                taken=taken,
            )
    return plan


def _sidecars(paths) -> list[Path]:
    return [p.with_suffix(".json") for p in paths]


def _refuse_existing(paths: list[Path]) -> None:
    for path in paths:
        if path.exists() or path.is_symlink():
            raise ExportError(
                "already exists; pass --overwrite to replace the pack, or choose another folder",
                path=path,
            )


def _layer_values(
    sound: dict[str, float], loudness: Control | None, layer: int, layers: int
) -> dict[str, float]:
    """The slider values of velocity layer ``layer`` (1 = softest): the loudest layer is the
    sound itself, softer ones play the loudness control down to :data:`SOFTEST_POSITION` of
    its slider position."""
    if loudness is None or layers == 1:
        return dict(sound)
    position = loudness.to_normalised(sound[loudness.name])
    fraction = SOFTEST_POSITION + (1.0 - SOFTEST_POSITION) * (layer - 1) / (layers - 1)
    return {**sound, loudness.name: loudness.from_normalised(position * fraction)}


def _root(pitch: int | None, measured: float | None) -> tuple[int | None, int]:
    """Root key and ``tune`` (cents) of a sample rendered at ``pitch`` and measured at
    ``measured``: a measurement within a semitone of the asked pitch corrects it; a sample
    rendered without a pitch is rooted at its measured note (None when it has none)."""
    if pitch is None:
        if measured is None:
            return None, 0
        root = int(round(measured))
        return root, int(round((root - measured) * 100))
    if measured is not None and abs(measured - pitch) < 1.0:
        return pitch, int(round((pitch - measured) * 100))
    return pitch, 0


def _header(
    model: SoundModel,
    model_id: str,
    sound: Mapping[str, float],
    seed: int,
    loudness: Control | None,
    per_pitch: bool,
    velocities: int,
) -> list[str]:
    values = ", ".join(f"{k}={v:g}" for k, v in sound.items())
    lines = [
        f"Timbre Lab {__version__} sample pack of {model_id} ({model.family}), seed {seed}",
        f"controls: {values}",
        "each sample's .json sidecar recreates it (synth_core.export.read_recipe)",
        "rendered at every key of the range"
        if per_pitch
        else "this model takes no pitch: one sample, transposed by the sampler",
    ]
    if velocities > 1:
        lines.append(
            f"velocity layers rendered with {loudness.name}"
            if loudness is not None
            else "velocity layers by volume (the model has no loudness control)"
        )
    return lines


def sfz_text(regions: list[Region], *, header: list[str], layered: bool) -> str:
    """The SFZ instrument: a ``<group>`` per velocity band (or one), a ``<region>`` per sample.

    Sample paths are relative to the SFZ file, which sits beside them.
    """
    out = [f"// {line}" for line in header]
    out += ["", "<global>"]
    if layered:
        out.append("amp_veltrack=0")  # the layers carry the loudness
    bands = sorted({(r.lovel, r.hivel) for r in regions})
    for lovel, hivel in bands:
        out += ["", f"<group> lovel={lovel} hivel={hivel}"]
        for r in (r for r in regions if (r.lovel, r.hivel) == (lovel, hivel)):
            measured = "unpitched" if r.measured_pitch is None else f"{r.measured_pitch:.2f}"
            out.append(f"// measured pitch {measured}")
            opcodes = [f"sample={r.sample.name}", f"lokey={r.lokey}", f"hikey={r.hikey}"]
            if r.root is None:
                opcodes += [f"pitch_keycenter={r.lokey}", "pitch_keytrack=0"]
            else:
                opcodes.append(f"pitch_keycenter={r.root}")
                if r.tune:
                    opcodes.append(f"tune={r.tune}")
            if r.volume_db:
                opcodes.append(f"volume={r.volume_db:.1f}")
            if r.loop is not None:
                opcodes += [
                    "loop_mode=loop_continuous",
                    f"loop_start={r.loop[0]}",
                    f"loop_end={r.loop[1]}",
                ]
            elif not r.sustained:
                opcodes.append("loop_mode=one_shot")
            out.append("<region> " + " ".join(opcodes))
    return "\n".join(out) + "\n"


def write_sfz(path: Path, regions: list[Region], *, header: list[str], layered: bool) -> Path:
    """Write :func:`sfz_text` to ``path`` atomically."""
    from synth_core.checkpoint import atomic_write_bytes

    atomic_write_bytes(path, sfz_text(regions, header=header, layered=layered).encode("utf-8"))
    return path
