"""Write sounds a musician can use elsewhere, and models a developer can run elsewhere.

Sounds: :func:`write_sound` renders one sound to WAV/FLAC/OGG at the asked rate and bit depth,
normalised and faded, with a JSON sidecar (model, controls, seed, pitch) next to it, so
:func:`recreate` can render the very same sound again. :func:`export_batch` writes ``n``
variations around the current slider values, with progress and cancel, for the app's export
dialog and for ``timbrelab demo``.

Models are exported by :mod:`synth_core.model_export.save` (``timbrelab export-model``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import string
import tempfile
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synth_core import __version__, safe_io
from synth_core import audio as audio_io
from synth_core.control_values import fill_values
from synth_core.errors import AudioFileError, TimbreLabError
from synth_core.models.base import Control, SoundModel, seeded_generator
from synth_core.paths import new_file_mode

log = logging.getLogger(__name__)

FORMATS = ("wav", "flac", "ogg")
BIT_DEPTHS = ("16", "24", "32f")
SAMPLE_RATES = (44100, 48000, 96000)
NORMALISE_MODES = ("none", "peak", "lufs")
PATTERN_TOKENS = ("model", "seed", "n", "pitch")
SIDECAR_VERSION = 1
#: The largest batch index (``n``) a sidecar may record.
MAX_RECIPE_INDEX = 1_000_000

_SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}

#: Longest file-name stem, in UTF-8 bytes. File systems allow 255 bytes a name, and
#: :func:`synth_core.audio.save` writes through ``.<stem>.XXXXXXXX.part``, 15 bytes longer.
STEM_MAX_BYTES = 255 - 15


class ExportError(TimbreLabError):
    """Export settings are invalid, or a sound or model cannot be written."""


@dataclass(frozen=True)
class ExportSettings:
    """How sounds are written.

    Parameters
    ----------
    format : {"wav", "flac", "ogg"}
        Container; "ogg" is Ogg Vorbis (lossy, bit depth does not apply).
    bit_depth : {"16", "24", "32f"}
        Sample format; "32f" is 32-bit float (WAV only; FLAC stores at most 24-bit integers).
    sample_rate : int
        Output rate in Hz: 44100, 48000 or 96000. Sounds are resampled with soxr (very high
        quality) when the model renders at another rate.
    normalise : {"none", "peak", "lufs"}
        Scale each sound to ``peak_dbfs`` or to ``lufs`` integrated loudness (ITU-R BS.1770 via
        pyloudnorm); a loudness target that would clip is lowered to a peak of ``peak_dbfs``.
    peak_dbfs : float
        Peak target in dBFS (≤ 0).
    lufs : float
        Loudness target in LUFS (−60 to 0).
    fade_out_s : float
        Length of the raised-cosine fade at the end, in seconds (0 for none).
    pattern : str
        File-name pattern with the tokens ``{model}``, ``{seed}``, ``{n}`` (1-based, zero-padded
        to 3 digits) and ``{pitch}`` (MIDI note, or "none"); the extension is added.
    """

    format: str = "wav"
    bit_depth: str = "24"
    sample_rate: int = 48000
    normalise: str = "peak"
    peak_dbfs: float = -1.0
    lufs: float = -16.0
    fade_out_s: float = 0.02
    pattern: str = "{model}_{n}_s{seed}"

    def validate(self) -> None:
        """Raise :class:`ExportError` naming the first setting that cannot be written."""
        if self.format not in FORMATS:
            raise ExportError(f"format {self.format!r} is not one of {', '.join(FORMATS)}")
        if self.bit_depth not in BIT_DEPTHS:
            raise ExportError(f"bit depth {self.bit_depth!r} is not one of {', '.join(BIT_DEPTHS)}")
        if self.format == "flac" and self.bit_depth == "32f":
            raise ExportError("FLAC cannot store 32-bit float; choose 16 or 24 bit, or WAV")
        if int(self.sample_rate) not in SAMPLE_RATES:
            rates = ", ".join(str(r) for r in SAMPLE_RATES)
            raise ExportError(f"sample rate {self.sample_rate} Hz is not one of {rates} Hz")
        if self.normalise not in NORMALISE_MODES:
            raise ExportError(
                f"normalise {self.normalise!r} is not one of {', '.join(NORMALISE_MODES)}"
            )
        if not -60.0 <= self.peak_dbfs <= 0.0:
            raise ExportError(f"peak target {self.peak_dbfs} dBFS is outside −60–0 dBFS")
        if not -60.0 <= self.lufs <= 0.0:
            raise ExportError(f"loudness target {self.lufs} LUFS is outside −60–0 LUFS")
        if not 0.0 <= self.fade_out_s <= 10.0:
            raise ExportError(f"fade-out {self.fade_out_s} s is outside 0–10 s")
        check_pattern(self.pattern)

    @property
    def extension(self) -> str:
        return self.format

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SoundRecipe:
    """Everything needed to render one sound again: which model, which sliders, which seed.

    ``model`` is the model id (what :func:`synth_core.runs.open_model` accepts: a run directory,
    a starter model name or ``physical:INSTRUMENT``); ``controls`` are values in each control's unit.
    """

    model: str
    family: str
    controls: dict[str, float]
    seed: int
    pitch: float | None = None
    n: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def check_pattern(pattern: str) -> None:
    """Raise :class:`ExportError` when ``pattern`` has an unknown token or makes no name."""
    try:
        parsed = [(name, spec or "") for _, name, spec, _ in string.Formatter().parse(pattern)]
    except ValueError as error:
        raise ExportError(f"file-name pattern {pattern!r}: {error}") from None
    fields = [name for name, _ in parsed if name is not None]
    for name, spec in parsed:
        # a width such as {n:>9999999999} would build a huge string before any length check
        if name is not None and (
            "{" in spec or any(len(d) > 3 or int(d) > 255 for d in re.findall(r"\d+", spec))
        ):
            raise ExportError(
                f"file-name pattern {pattern!r}: the format {{{name}:{spec}}} is not allowed; "
                "use plain tokens such as {n}, or widths up to 255"
            )
    unknown = sorted({f for f in fields if f not in PATTERN_TOKENS})
    if unknown:
        tokens = ", ".join("{" + t + "}" for t in PATTERN_TOKENS)
        raise ExportError(
            f"file-name pattern {pattern!r} has unknown token(s) {', '.join(unknown)}; use {tokens}"
        )
    if not pattern.strip() or "/" in pattern or "\\" in pattern:
        raise ExportError(f"file-name pattern {pattern!r} must be a non-empty name without slashes")


def file_stem(pattern: str, *, model: str, seed: int, n: int, pitch: float | None) -> str:
    """Fill in the file-name ``pattern`` and make the result a safe name for one file.

    ``model`` is shortened to its last path component (a run directory's name). Characters that
    file systems dislike become ``_``; dots and spaces at either end are dropped, so no pattern
    can name ``.``, ``..`` or a hidden file. Dots inside stay (``drums.v2``, ``p60.5``): the
    extension is appended later, never substituted for what follows the last dot.

    Raises
    ------
    ExportError
        When the name comes out empty, or longer than :data:`STEM_MAX_BYTES` bytes in UTF-8.
    """
    check_pattern(pattern)
    model_name = _clean(Path(model.replace(":", "-")).name) or "model"
    pitch_text = "none" if pitch is None else f"{pitch:g}"
    try:
        filled = pattern.format(model=model_name, seed=seed, n=f"{n:03d}", pitch=pitch_text)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        # a format spec that does not fit its token, such as {n:d} ({n} is text: "001")
        raise ExportError(f"file-name pattern {pattern!r}: {error}") from None
    stem = _clean(filled)
    if not stem:
        raise ExportError(
            f"file-name pattern {pattern!r} makes no usable file name ({filled!r}); "
            "put letters or a token such as {n} in it"
        )
    if len(stem.encode("utf-8")) > STEM_MAX_BYTES:
        raise ExportError(
            f"file-name pattern {pattern!r} makes a name of {len(stem.encode('utf-8'))} bytes; "
            f"file names can have at most {STEM_MAX_BYTES} bytes before the extension — "
            "use a shorter pattern"
        )
    return stem


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return re.sub(r"[^\w.\-+=@ ]", "_", text).strip(". ")


def export_path(
    folder: str | Path,
    pattern: str,
    *,
    model: str,
    seed: int,
    n: int,
    pitch: float | None,
    extension: str,
    taken: set[str] | None = None,
) -> Path:
    """Where the sound made from ``pattern`` goes: ``folder / (stem + "." + extension)``.

    Pure: nothing is written or created. The extension is appended to the stem from
    :func:`file_stem`. When ``taken`` is given (the names already planned in a batch, case-folded),
    a stem that is taken gets ``-2``, ``-3``… and the new name is added to it, so no two sounds
    of a batch share a file or a sidecar, even on a case-insensitive file system.

    Raises
    ------
    ExportError
        For a pattern that makes no usable name, or when the path does not resolve inside
        ``folder`` (a link in the folder pointing elsewhere).
    """
    stem = file_stem(pattern, model=model, seed=seed, n=n, pitch=pitch)
    if taken is not None:
        stem = _unique(stem, taken, pattern)
    path = Path(folder) / f"{stem}.{extension}"
    _check_inside(Path(folder), path, pattern)
    return path


def _check_inside(folder: Path, path: Path, pattern: str) -> None:
    base = folder.expanduser().resolve()
    for target in (path, path.with_suffix(".json")):
        resolved = target.expanduser().resolve()
        if resolved.parent != base:
            raise ExportError(
                f"file-name pattern {pattern!r} would write {resolved}, outside the chosen "
                f"folder {base}; choose another pattern or folder"
            )


def prepare(
    audio: np.ndarray | torch.Tensor, sample_rate: int, settings: ExportSettings
) -> np.ndarray:
    """Resample, fade and normalise one mono sound for writing.

    Parameters
    ----------
    audio : array [samples], float
        The model's output at ``sample_rate``.
    sample_rate : int
        Rate of ``audio`` in Hz.
    settings : ExportSettings
        Target rate, fade and normalisation.

    Returns
    -------
    np.ndarray [samples'], float32, peak ≤ 1, at ``settings.sample_rate``.
    """
    settings.validate()
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    samples = np.asarray(audio, dtype=np.float64).reshape(-1)
    if samples.size == 0:
        raise ExportError("the sound to export is empty")
    if not np.all(np.isfinite(samples)):
        raise ExportError("the sound to export contains NaN or infinite samples")
    if int(sample_rate) != int(settings.sample_rate):
        samples = audio_io.resample(samples, int(sample_rate), int(settings.sample_rate))
    samples = np.asarray(samples, dtype=np.float64)
    fade = min(int(round(settings.fade_out_s * settings.sample_rate)), samples.size)
    if fade > 0:
        # raised-cosine (Hann half) fade: no click, no audible corner at the start of the fade
        samples[-fade:] *= 0.5 * (1.0 + np.cos(np.linspace(0.0, math.pi, fade)))
    return _normalise(samples.astype(np.float32), settings)


def _normalise(samples: np.ndarray, settings: ExportSettings) -> np.ndarray:
    peak = float(np.max(np.abs(samples)))
    if peak == 0.0:
        return samples
    if settings.normalise == "peak":
        return audio_io.peak_normalise(samples, peak_db=settings.peak_dbfs)
    if settings.normalise == "lufs":
        louder = audio_io.loudness_normalise(samples, settings.sample_rate, lufs=settings.lufs)
        if float(np.max(np.abs(louder))) > 10.0 ** (settings.peak_dbfs / 20.0):
            log.info("loudness target %.1f LUFS would clip; held at the peak target", settings.lufs)
            return audio_io.peak_normalise(samples, peak_db=settings.peak_dbfs)
        return louder
    # "none": only make sure the file cannot clip
    return samples / np.float32(peak) if peak > 1.0 else samples


def write_sound(
    audio: np.ndarray | torch.Tensor,
    sample_rate: int,
    path: str | Path,
    settings: ExportSettings,
    recipe: SoundRecipe | None = None,
) -> Path:
    """Write one sound, and its JSON sidecar when a ``recipe`` is given.

    Parameters
    ----------
    audio : array [samples], float
        The sound at ``sample_rate`` Hz.
    sample_rate : int
        Rate of ``audio`` in Hz.
    path : path
        Output file. A known audio extension (``.wav``, ``.flac``…) is replaced by the format's;
        anything else is kept and the format's extension appended (``drums.v2`` →
        ``drums.v2.wav``). An existing file is replaced.
    settings : ExportSettings
        Format, bit depth, rate, normalisation, fade.
    recipe : SoundRecipe, optional
        Written next to the sound as ``<name>.json``.

    Returns
    -------
    Path of the sound file written.
    """
    settings.validate()
    path = _with_extension(Path(path), settings.extension)
    samples = prepare(audio, sample_rate, settings)
    subtype = "VORBIS" if settings.format == "ogg" else _SUBTYPES[settings.bit_depth]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AudioFileError(
            f"cannot create the folder: {error.strerror}", path=path.parent
        ) from None
    metadata = {"software": f"Timbre Lab {__version__}"}
    if recipe is not None:
        metadata["comment"] = f"{recipe.model} seed {recipe.seed}"
    audio_io.save(
        samples,
        path,
        sample_rate=int(settings.sample_rate),
        format=settings.format,
        subtype=subtype,
        metadata=metadata if settings.format != "ogg" else None,
    )
    if recipe is not None:
        sidecar = {
            "format_version": SIDECAR_VERSION,
            "timbrelab_version": __version__,
            **asdict(recipe),
            "export": settings.to_dict(),
            "file": path.name,
        }
        write_json(path.with_suffix(".json"), sidecar)
    return path


def _with_extension(path: Path, extension: str) -> Path:
    if path.suffix.lower() in audio_io.FORMAT_BY_SUFFIX:
        path = path.with_suffix("")
    stem_bytes = len(path.name.encode("utf-8", "surrogateescape"))
    if stem_bytes > STEM_MAX_BYTES:
        raise ExportError(
            f"the file name {path.name!r} has {stem_bytes} bytes; file names can have at most "
            f"{STEM_MAX_BYTES} bytes before the extension — choose a shorter one"
        )
    return path.with_name(f"{path.name}.{extension}")


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write a sidecar atomically (temporary file, then a rename) with the umask's permissions."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    try:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".timbrelab-", suffix=".part")
    except OSError as error:
        reason = error.strerror or error
        raise AudioFileError(f"cannot write the sidecar: {reason}", path=path) from error
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.chmod(temp_name, new_file_mode())  # mkstemp made it 0600
            handle.write(text)
        os.replace(temp_name, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        reason = error.strerror or error
        raise AudioFileError(f"cannot write the sidecar: {reason}", path=path) from error


def read_recipe(path: str | Path) -> SoundRecipe:
    """Read the sidecar of an exported sound (the ``.json`` next to it, or the sidecar itself).

    The sidecar is read through :mod:`synth_core.safe_io` (a regular file of at most 16 MiB
    holding one JSON object, nesting bounded) and each field is checked by its policy there:
    ``format_version`` 1 up to :data:`SIDECAR_VERSION` (absent means 1), ``model`` and
    ``family`` strings, ``controls`` finite numbers (NaN and Infinity refused; their ranges are
    checked by the model in :func:`recreate`), ``seed`` a whole number 0 ≤ seed < 2**64,
    ``pitch`` null or a MIDI note 0–127, ``n`` a whole number 0–:data:`MAX_RECIPE_INDEX`,
    ``extra`` an object.

    Raises
    ------
    ExportError
        No sidecar, or one that is not a Timbre Lab sidecar; the message names the field.
    """
    path = Path(path)
    sidecar = path if path.suffix == ".json" else path.with_suffix(".json")
    try:
        data = safe_io.read_json_object(sidecar, error=ExportError, what="a Timbre Lab sidecar")
    except ExportError as error:
        if isinstance(error.__cause__, FileNotFoundError):
            raise ExportError(
                "no sidecar next to this sound; it cannot be recreated", path=sidecar
            ) from None
        raise
    missing = [key for key in ("model", "family", "controls", "seed") if key not in data]
    if missing:
        raise ExportError(f"not a Timbre Lab sidecar (no {', '.join(missing)})", path=sidecar)
    safe_io.format_version(
        data, "format_version", current=SIDECAR_VERSION, path=sidecar, error=ExportError,
        default=SIDECAR_VERSION,
    )  # fmt: skip
    extra = data.get("extra", {})
    if not isinstance(extra, dict):
        raise ExportError(f"extra must be an object, not {extra!r:.60}", path=sidecar)
    return SoundRecipe(
        model=safe_io.text(data, "model", path=sidecar, error=ExportError),
        family=safe_io.text(data, "family", path=sidecar, error=ExportError),
        controls=safe_io.control_values(
            data["controls"], "controls", path=sidecar, error=ExportError
        ),
        seed=safe_io.seed(data["seed"], path=sidecar, error=ExportError),
        pitch=safe_io.pitch(data.get("pitch"), path=sidecar, error=ExportError),
        n=safe_io.whole_number(
            data.get("n", 1), "n", path=sidecar, error=ExportError, low=0, high=MAX_RECIPE_INDEX
        ),
        extra=extra,
    )


def recreate(recipe: SoundRecipe, model: SoundModel) -> torch.Tensor:
    """Render the sound a sidecar describes with ``model``; float32 ``[samples]``.

    Raises :class:`ExportError` when ``model`` is of another family than the recipe's.
    """
    if recipe.family != model.family:
        raise ExportError(
            f"the sound was made by a {recipe.family!r} model, not a {model.family!r} model"
        )
    audio = model.generate(recipe.controls, n=1, seed=recipe.seed, pitch=recipe.pitch)
    return audio[0]


def variations(
    controls: list[Control],
    values: Mapping[str, float] | None,
    *,
    n: int,
    spread: float,
    seed: int,
) -> list[dict[str, float]]:
    """``n`` slider settings scattered around ``values``.

    Each control is moved by a Gaussian offset whose standard deviation is ``spread`` times the
    slider's travel (its normalised 0–1 range), clamped to the range; the first variation is
    ``values`` itself, so a batch always contains the sound on screen.

    Parameters
    ----------
    controls : list of Control
    values : mapping name → value, optional
        The centre, in each control's unit; missing names take their default.
    n : int ≥ 1
    spread : float, 0–1
        0 repeats the centre (only the seed changes).
    seed : int
        Makes the scatter reproducible.
    """
    if n < 1:
        raise ExportError(f"number of variations must be at least 1, got {n}")
    if not 0.0 <= spread <= 1.0:
        raise ExportError(f"spread {spread} is outside 0–1")
    centre = fill_values(controls, values or {})
    generator = seeded_generator(seed)
    offsets = torch.randn(n, len(controls), generator=generator, dtype=torch.float64) * spread
    result = []
    for i in range(n):
        if i == 0:
            result.append(dict(centre))
            continue
        moved = {}
        for j, control in enumerate(controls):
            position = control.to_normalised(centre[control.name]) + float(offsets[i, j])
            moved[control.name] = control.from_normalised(position)
        result.append(moved)
    return result


@dataclass(frozen=True)
class BatchResult:
    """What :func:`export_batch` wrote: sound files (each with a sidecar), and whether it was
    cancelled before the end."""

    files: list[Path]
    cancelled: bool


def batch_paths(
    out_dir: str | Path,
    *,
    model_id: str,
    n: int,
    seed: int,
    pitch: float | None,
    settings: ExportSettings,
) -> list[Path]:
    """The files :func:`export_batch` would write, before it looks at what is on disk.

    Pure and fast (no audio): sound ``i`` (1-based) is named from ``settings.pattern`` with seed
    ``seed + i - 1``; names are unique within the batch (see :func:`export_path`) and every one
    resolves inside ``out_dir``.
    """
    settings.validate()
    taken: set[str] = set()
    return [
        export_path(
            out_dir,
            settings.pattern,
            model=model_id,
            seed=seed + i - 1,
            n=i,
            pitch=pitch,
            extension=settings.extension,
            taken=taken,
        )
        for i in range(1, n + 1)
    ]


def existing_files(paths: list[Path]) -> list[Path]:
    """The sounds among ``paths`` that exist already, or whose sidecar does."""
    return [p for p in paths if p.exists() or p.with_suffix(".json").exists()]


def export_batch(
    model: SoundModel,
    out_dir: str | Path,
    *,
    model_id: str,
    values: Mapping[str, float] | None = None,
    n: int = 1,
    spread: float = 0.0,
    seed: int = 0,
    pitch: float | None = None,
    settings: ExportSettings | None = None,
    replace_existing: bool = False,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BatchResult:
    """Write ``n`` variations around ``values``, each with its own seed and a sidecar.

    Variation ``i`` (1-based) uses seed ``seed + i - 1`` and the slider values from
    :func:`variations`, rendered alone (``n=1``) so its sidecar recreates it exactly. Its file
    is the one :func:`batch_paths` plans; every file of the batch is distinct, so
    ``len(result.files)`` is the number of sounds on disk.

    Parameters
    ----------
    model : SoundModel
    out_dir : path
        Folder for the files (created).
    model_id : str
        How the sidecar names the model (see :class:`SoundRecipe`).
    values, n, spread, seed, pitch
        Centre, count, scatter (see :func:`variations`), first seed, MIDI pitch.
    settings : ExportSettings, optional
    replace_existing : bool
        False (the default) never touches a file already there: a sound whose name, or whose
        sidecar's name, is taken on disk is written as ``<name>-2``, ``-3``… instead. True
        replaces such files.
    progress : callable(done, total), optional
        Called after each file.
    should_stop : callable() -> bool, optional
        Polled before each file; True stops early (files written so far are kept).

    Raises
    ------
    ExportError
        Bad settings, or a pattern that makes no usable or too long a name (before any sound
        is rendered).
    CheckpointError
        When the model's weights hold NaN or infinity (it would render silence).
    """
    from synth_core.runs import check_finite_weights

    settings = settings or ExportSettings()
    settings.validate()
    out_dir = Path(out_dir)
    controls = model.controls()
    points = variations(controls, values, n=n, spread=spread, seed=seed)
    paths = batch_paths(out_dir, model_id=model_id, n=n, seed=seed, pitch=pitch, settings=settings)
    if not replace_existing:
        paths = _free_paths(paths, settings.pattern)
    check_finite_weights(model, model_id)
    files: list[Path] = []
    for i, (point, path) in enumerate(zip(points, paths, strict=True), start=1):
        if should_stop is not None and should_stop():
            log.info("export cancelled after %d of %d sounds", len(files), n)
            return BatchResult(files, cancelled=True)
        sound_seed = seed + i - 1
        audio = model.generate(point, n=1, seed=sound_seed, pitch=pitch)[0]
        recipe = SoundRecipe(
            model=model_id, family=model.family, controls=point, seed=sound_seed, pitch=pitch, n=i
        )
        files.append(write_sound(audio, model.sample_rate, path, settings, recipe))
        if progress is not None:
            progress(i, n)
    return BatchResult(files, cancelled=False)


def _unique(stem: str, taken: set[str], pattern: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3``… whichever is not in ``taken`` (compared case-folded,
    as macOS and Windows compare names); the choice is added to ``taken``."""
    candidate, k = stem, 2
    while candidate.casefold() in taken:
        candidate, k = f"{stem}-{k}", k + 1
    if len(candidate.encode("utf-8")) > STEM_MAX_BYTES:
        raise ExportError(
            f"file-name pattern {pattern!r} makes names too long to number apart "
            f"(at most {STEM_MAX_BYTES} bytes); use a shorter pattern, or add {{n}} to it"
        )
    taken.add(candidate.casefold())
    return candidate


def _free_paths(paths: list[Path], pattern: str) -> list[Path]:
    """``paths`` with each one whose sound or sidecar exists moved to a free numbered name."""
    taken = {p.name[: -len(p.suffix)].casefold() for p in paths}
    result = []
    for path in paths:
        if path.exists() or path.with_suffix(".json").exists():
            stem, extension = path.name[: -len(path.suffix)], path.suffix
            candidate = path
            while candidate.exists() or candidate.with_suffix(".json").exists():
                free = _unique(stem, taken, pattern)
                candidate = path.with_name(free + extension)
            _check_inside(path.parent, candidate, pattern)
            path = candidate
        result.append(path)
    return result
