"""The sound map: every clip of a folder as a point in 2-D, and the model's latent space as a map.

Each file gets one feature vector (mean and spread over time of a 64-band log-mel spectrogram,
plus the descriptors the sliders are named after, :func:`synth_core.dsp.descriptors`), cached by
file content in the user cache folder so a folder opens on its map at once the second time. The
2-D layout is PCA first (instant), then t-SNE (openTSNE: no JIT compile, unlike umap-learn's
numba, and its optimiser reports progress and can be stopped between iterations); layouts are
cached under the hash of the clips' content keys.

With a model that decodes latents (``model.can_decode``), a point between clips is the
inverse-distance blend of the nearest clips' latents (:func:`blend_latents`): simple, exact at
each clip's own point, and it needs no second model; a learned 2-D → latent map would need
training of its own and would not pass exactly through the clips.
Measured: docs/experiments/sound-map.md.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from synth_core import dsp
from synth_core.dataset.cache import ClipCache, content_key
from synth_core.dataset.names import pitch_from_name
from synth_core.errors import DatasetError, ModelConfigError
from synth_core.paths import cache_dir

if TYPE_CHECKING:
    from synth_core.export import ExportSettings
    from synth_core.models.base import SoundModel

log = logging.getLogger(__name__)

MAP_RATE = 22050  # Hz: every clip is analysed at one rate, so features compare across files
MAP_SECONDS = 2.0  # analysis window from each file's start; one-shots say who they are early
N_MELS = 64
DESCRIPTORS = ("brightness", "loudness", "noisiness", "decay", "pitch")
FEATURE_SIZE = 2 * N_MELS + len(DESCRIPTORS) + 1  # log-mel mean and std, descriptors, duration
_FEATURE_VERSION = 1
_LAYOUT_VERSION = 1
_BATCH = 32
_PITCH_COLUMN = 2 * N_MELS + DESCRIPTORS.index("pitch")
_NO_PITCH = -1.0  # how the cache (finite values only) stores "unpitched"

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class MapFeatures:
    """Per-clip features of a folder, row ``i`` for ``paths[i]``.

    ``log_mel`` is ``[n, 128]`` (per-band mean then standard deviation of the log-mel power);
    ``values`` holds each descriptor of :data:`DESCRIPTORS` and ``duration`` (seconds), ``[n]``:
    brightness is log2 of the spectral centroid in Hz, loudness dBFS of the loudest 100 ms,
    noisiness spectral flatness, decay seconds to fall 20 dB, pitch MIDI (NaN where unpitched).
    """

    paths: tuple[Path, ...]
    keys: tuple[str, ...]
    log_mel: np.ndarray
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.paths)

    @classmethod
    def from_rows(cls, paths: Sequence[Path], keys: Sequence[str], rows: np.ndarray) -> MapFeatures:
        rows = np.asarray(rows, dtype=np.float32).reshape(len(paths), FEATURE_SIZE)
        names = (*DESCRIPTORS, "duration")
        values = {name: rows[:, 2 * N_MELS + i].copy() for i, name in enumerate(names)}
        return cls(tuple(paths), tuple(keys), rows[:, : 2 * N_MELS].copy(), values)

    def embedding_input(self) -> np.ndarray:
        """``[n, d]`` standardised columns (log-mel statistics and the descriptors but pitch,
        which is NaN for unpitched sounds); what PCA, t-SNE and k-means see."""
        columns = [self.log_mel] + [
            self.values[name][:, None] for name in ("brightness", "loudness", "noisiness", "decay")
        ]
        x = np.concatenate(columns, axis=1).astype(np.float64)
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        spread = x.std(0)
        return ((x - x.mean(0)) / np.where(spread > 1e-9, spread, 1.0)).astype(np.float32)


def _clip_rows(
    audio: torch.Tensor, durations: Sequence[float], pitches: torch.Tensor
) -> np.ndarray:
    """Feature rows ``[n, FEATURE_SIZE]`` of clips ``[n, samples]`` at :data:`MAP_RATE`."""
    with torch.no_grad():
        mel = dsp.log_mel(audio, MAP_RATE, n_mels=N_MELS)
        values = dsp.descriptors(audio, MAP_RATE, pitches)
        # a file with a label keeps it; the others are estimated (descriptors estimates all or
        # none, so fill the gaps from an estimate only where a label is missing)
        if bool(torch.isnan(pitches).any()) and bool(torch.isfinite(pitches).any()):
            estimated = dsp.hz_to_midi(dsp.f0_hz(audio, MAP_RATE))
            values["pitch"] = torch.where(torch.isfinite(pitches), pitches, estimated)
        stats = [mel.mean(-1), mel.std(-1)]
        stats += [values[name].float()[:, None] for name in DESCRIPTORS]
        stats.append(torch.tensor(durations, dtype=torch.float32)[:, None])
        return torch.cat(stats, dim=1).numpy().astype(np.float32)


def _load_clip(path: Path) -> tuple[np.ndarray, float]:
    from synth_core.audio import load

    sound = load(path, sample_rate=MAP_RATE, mono=True)
    clip = np.zeros(int(MAP_RATE * MAP_SECONDS), dtype=np.float32)
    head = sound.samples[: clip.size]
    clip[: head.size] = head
    return clip, sound.duration


def folder_features(
    paths: Sequence[str | Path],
    *,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    use_cache: bool = True,
) -> MapFeatures:
    """Features of every file in ``paths``, from the cache where the content is known.

    Parameters
    ----------
    paths : sequence of path
        Sound files (as a scan's usable files).
    progress : callable(done, total) or None, keyword-only
    should_stop : callable() -> bool or None, keyword-only
        Checked between batches; a stop raises :class:`DatasetError`.
    use_cache : bool, keyword-only
        Read and write the content-hash cache (``<cache>/map-features``).

    Raises
    ------
    DatasetError
        No files, a file that cannot be read, or a stop.
    """
    files = [Path(p) for p in paths]
    if not files:
        raise DatasetError("there are no sounds to map: open a folder with usable sound files")
    cache = ClipCache(cache_dir() / "map-features", FEATURE_SIZE)
    keys = [content_key(p, "map", _FEATURE_VERSION, MAP_RATE, MAP_SECONDS) for p in files]
    rows = np.zeros((len(files), FEATURE_SIZE), dtype=np.float32)
    missing = []
    for i, key in enumerate(keys):
        found = cache.read(key) if use_cache else None
        if found is None:
            missing.append(i)
        else:
            rows[i] = found
            if rows[i, _PITCH_COLUMN] == _NO_PITCH:
                rows[i, _PITCH_COLUMN] = np.nan
    total, done = len(files), len(files) - len(missing)
    if progress is not None:
        progress(done, total)
    for start in range(0, len(missing), _BATCH):
        if should_stop is not None and should_stop():
            raise DatasetError("mapping was stopped before every sound was analysed")
        batch = missing[start : start + _BATCH]
        loaded = [_load_clip(files[i]) for i in batch]
        audio = torch.from_numpy(np.stack([clip for clip, _ in loaded]))
        labels = [pitch_from_name(files[i]) for i in batch]
        pitches = torch.tensor([np.nan if p is None else p for p in labels], dtype=torch.float32)
        computed = _clip_rows(audio, [duration for _, duration in loaded], pitches)
        for i, row in zip(batch, computed, strict=True):
            rows[i] = row
            if use_cache:
                cache.write(keys[i], np.nan_to_num(row, nan=_NO_PITCH))
        done += len(batch)
        if progress is not None:
            progress(done, total)
    return MapFeatures.from_rows(files, keys, rows)


# Layouts ---------------------------------------------------------------------------------------


def pca_layout(x: np.ndarray) -> np.ndarray:
    """The first two principal components of rows ``x`` ``[n, d]``, ``[n, 2]`` float32 (the
    instant layout; zeros where there is only one row or no spread)."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(0)
    if x.shape[0] < 2 or not np.any(centred):
        return np.zeros((x.shape[0], 2), dtype=np.float32)
    # eigenvectors of the d×d covariance: for 10 000 clips of 132 features a few ms, where an
    # SVD of the whole n×d matrix takes seconds
    _, vectors = np.linalg.eigh(centred.T @ centred)
    coords = centred @ vectors[:, ::-1][:, :2]
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    # a sign convention, so the same data always gives the same picture
    signs = np.sign(coords[np.abs(coords).argmax(0), range(2)])
    return (coords * np.where(signs == 0, 1.0, signs)).astype(np.float32)


_IMPORT_LOCK = threading.Lock()
TSNE_ITERATIONS = (250, 500)  # early-exaggeration, then normal phase (openTSNE's defaults)


def tsne_layout(
    x: np.ndarray,
    *,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    seed: int = 0,
    iterations: tuple[int, int] = TSNE_ITERATIONS,
) -> np.ndarray:
    """t-SNE of rows ``x`` ``[n, d]`` by openTSNE, started from the PCA layout, ``[n, 2]``.

    Perplexity is 30 or ``(n - 1) / 3`` for small folders; under 5 rows the PCA layout is
    returned (t-SNE has no neighbourhoods to keep). Progress counts optimiser iterations; a stop
    between them raises :class:`DatasetError`.
    """
    with _IMPORT_LOCK:  # one worker imports openTSNE (and scikit-learn under it) at a time
        import openTSNE  # noqa: PLC0415 - seconds to import; only when a layout is computed

    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    if n < 5:
        return pca_layout(x)
    early, normal = iterations
    total = early + normal
    done = 0

    class Stopped(Exception):
        pass

    def report(iteration: int, _error: float, _embedding: object) -> bool:
        nonlocal done
        if should_stop is not None and should_stop():
            raise Stopped
        if progress is not None:
            progress(min(done + iteration, total), total)
        return False

    init = pca_layout(x).astype(np.float64)
    init = init / (init[:, 0].std() + 1e-12) * 1e-4  # openTSNE's recommended scale for an init
    affinities = openTSNE.affinity.PerplexityBasedNN(
        x, perplexity=min(30.0, (n - 1) / 3), n_jobs=1, random_state=seed, verbose=False
    )
    embedding = openTSNE.TSNEEmbedding(
        init, affinities, n_jobs=1, random_state=seed, callbacks=report, callbacks_every_iters=10
    )
    try:
        embedding = embedding.optimize(early, exaggeration=12, momentum=0.5)
        done = early
        embedding = embedding.optimize(normal, momentum=0.8)
    except Stopped:
        raise DatasetError("the map layout was stopped; the PCA layout stays") from None
    if progress is not None:
        progress(total, total)
    return np.asarray(embedding, dtype=np.float32)


LAYOUTS: dict[str, Callable[..., np.ndarray]] = {"pca": pca_layout, "tsne": tsne_layout}


def layout_key(keys: Sequence[str], method: str) -> str:
    """Cache key of a layout: the method and every clip's content key, in order."""
    digest = hashlib.sha256(repr((_LAYOUT_VERSION, method, _FEATURE_VERSION)).encode())
    for key in keys:
        digest.update(key.encode())
    return digest.hexdigest()


def cached_layout(
    features: MapFeatures,
    method: str = "tsne",
    *,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> np.ndarray:
    """The ``method`` layout (``"pca"`` or ``"tsne"``) of ``features``, ``[n, 2]``, read from
    ``<cache>/map-layouts`` when this set of clips was laid out before, else computed and kept."""
    if method not in LAYOUTS:
        raise ModelConfigError(f"unknown map layout {method!r}: use one of {', '.join(LAYOUTS)}")
    cache = ClipCache(cache_dir() / "map-layouts", 2 * len(features))
    key = layout_key(features.keys, method)
    found = cache.read(key)
    if found is not None:
        if progress is not None:
            progress(1, 1)
        return found.reshape(-1, 2)
    x = features.embedding_input()
    if method == "tsne":
        coords = tsne_layout(x, progress=progress, should_stop=should_stop)
    else:
        coords = pca_layout(x)
    cache.write(key, np.ascontiguousarray(coords, dtype=np.float32).reshape(-1))
    return coords


def clusters(x: np.ndarray, k: int = 8, *, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """k-means labels ``[n]`` (int) of rows ``x`` ``[n, d]``, ``k`` at most ``n``.

    Lloyd's iterations from a k-means++ start (Arthur & Vassilvitskii 2007), seeded. Written here
    rather than taken from scikit-learn: its import (joblib, multiprocessing) on the map's worker
    thread could deadlock against a concurrent import on another thread.
    """
    x = np.asarray(x, dtype=np.float64)
    n = int(x.shape[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    k = max(1, min(int(k), n))
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(n)]]
    for _ in range(1, k):
        distance = np.min([((x - c) ** 2).sum(axis=1) for c in centres], axis=0)
        total = distance.sum()
        pick = rng.choice(n, p=distance / total) if total > 0 else rng.integers(n)
        centres.append(x[pick])
    centre = np.stack(centres)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        distance = ((x[:, None, :] - centre[None, :, :]) ** 2).sum(axis=2)
        new_labels = distance.argmin(axis=1)
        if _ and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        for j in range(k):
            members = x[labels == j]
            if len(members):
                centre[j] = members.mean(axis=0)
    return labels


# The model's space -----------------------------------------------------------------------------


def encode_files(model: SoundModel, paths: Sequence[str | Path]) -> torch.Tensor:
    """Latents ``[n, latent_dim]`` of the files ``paths`` by ``model.encode`` (at its rate and
    clip length). Raises :class:`ModelConfigError` for a model that cannot encode."""
    from synth_core.audio import load

    if not model.can_encode:
        raise ModelConfigError(f"the {model.family} family has no latent space to map")
    length = int(model.config.clip_samples)
    latents = []
    for start in range(0, len(paths), _BATCH):
        batch = np.zeros((len(paths[start : start + _BATCH]), length), dtype=np.float32)
        for row, path in enumerate(paths[start : start + _BATCH]):
            head = load(path, sample_rate=model.sample_rate, mono=True).samples[:length]
            batch[row, : head.size] = head
        encoded = model.encode(torch.from_numpy(batch))
        if encoded is None:
            raise ModelConfigError(f"the {model.family} model gave no latents for {paths[start]}")
        latents.append(encoded.detach().cpu().float().reshape(batch.shape[0], -1))
    return torch.cat(latents)


def blend_weights(
    point: Sequence[float], coords: np.ndarray, *, k: int = 4, power: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-distance weights (Shepard, 1968) of the ``k`` map points nearest ``point``.

    Returns (indices ``[k]``, weights ``[k]`` summing to 1). On a point itself the weight is 1
    there and 0 elsewhere, so a click on a clip gives back that clip's latent exactly.
    """
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    if coords.shape[0] == 0:
        raise ModelConfigError("the map has no points to blend between")
    distance = np.hypot(*(coords - np.asarray(point, dtype=np.float64)[None, :]).T)
    nearest = np.argsort(distance)[: max(1, min(int(k), coords.shape[0]))]
    d = distance[nearest]
    scale = max(float(np.ptp(coords, axis=0).max()), 1e-12)
    if d[0] <= 1e-9 * scale:
        weights = np.zeros_like(d)
        weights[0] = 1.0
    else:
        weights = d ** -float(power)
        weights /= weights.sum()
    return nearest, weights


def blend_latents(
    points: np.ndarray, coords: np.ndarray, latents: torch.Tensor, *, k: int = 4
) -> torch.Tensor:
    """Latents ``[m, latent_dim]`` at map positions ``points`` ``[m, 2]``: each an
    inverse-distance blend of the latents of its ``k`` nearest map points (:func:`blend_weights`)."""
    out = []
    for point in np.asarray(points, dtype=np.float64).reshape(-1, 2):
        nearest, weights = blend_weights(point, coords, k=k)
        w = torch.as_tensor(weights, dtype=latents.dtype)
        out.append((latents[torch.as_tensor(nearest)] * w[:, None]).sum(0))
    return torch.stack(out)


def resample_path(points: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` points evenly spaced by arc length along the polyline ``points`` ``[m, 2]``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if steps < 1 or points.shape[0] == 0:
        raise ModelConfigError(f"a morph needs a drawn path and at least 1 step, got {steps}")
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    if along[-1] <= 0:
        return np.repeat(points[:1], steps, axis=0)
    where = np.linspace(0.0, along[-1], steps)
    return np.stack([np.interp(where, along, points[:, i]) for i in range(2)], axis=1)


def morph(
    model: SoundModel,
    path: np.ndarray,
    coords: np.ndarray,
    latents: torch.Tensor,
    *,
    steps: int = 8,
    k: int = 4,
) -> torch.Tensor:
    """The sounds along a drawn ``path`` on the map, ``[steps, samples]``: ``steps`` evenly
    spaced positions, each blended (:func:`blend_latents`) and decoded by the model."""
    z = blend_latents(resample_path(path, steps), coords, latents, k=k)
    return model.decode_latents(z)


def write_sequence(
    sounds: torch.Tensor | np.ndarray, sample_rate: int, path: str | Path, settings: ExportSettings
) -> Path:
    """One file of the sounds ``[steps, samples]`` one after another (a morph as a sequence),
    through :func:`synth_core.export.write_sound`; returns the path written."""
    from synth_core.export import write_sound

    audio = np.asarray(torch.as_tensor(sounds).detach().cpu().float()).reshape(-1)
    return write_sound(audio, sample_rate, path, settings)


# Selections ------------------------------------------------------------------------------------


def inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Mask ``[n]`` of the ``points`` ``[n, 2]`` inside the closed ``polygon`` ``[m, 2]`` (a
    lasso), by the even-odd rule (ray casting); fewer than 3 vertices enclose nothing."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    polygon = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    inside = np.zeros(points.shape[0], dtype=bool)
    if polygon.shape[0] < 3:
        return inside
    x, y = points[:, 0], points[:, 1]
    for (x1, y1), (x2, y2) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < at_x)
    return inside


def selection_folder(paths: Sequence[str | Path], *, root: Path | None = None) -> Path:
    """A new folder holding the files ``paths`` as links (copies where the file system has no
    links), under ``<cache>/map-selections`` unless ``root`` is given: a selection on the map
    becomes a folder that training and the Sounds panel read like any other.

    Two files of the same name from different folders get ``name-2.wav`` and so on.
    """
    import shutil
    import tempfile
    import time

    files = [Path(p) for p in paths]
    if not files:
        raise DatasetError("nothing is selected on the map: draw around some sounds first")
    base = root if root is not None else cache_dir() / "map-selections"
    folder = base
    try:
        base.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=time.strftime("selection-%Y%m%d-%H%M%S-"), dir=base))
        taken: set[str] = set()
        for source in files:
            name, count = source.name, 1
            while name.casefold() in taken:
                count += 1
                name = f"{source.stem}-{count}{source.suffix}"
            taken.add(name.casefold())
            target = folder / name
            try:
                target.symlink_to(source.resolve())
            except OSError:
                shutil.copy2(source, target)
    except OSError as error:
        raise DatasetError(
            f"cannot write the selection folder {folder}: {error.strerror}; "
            "free some space or choose another cache folder (TIMBRELAB_CACHE_DIR)"
        ) from None
    return folder


def copy_files(paths: Sequence[str | Path], folder: str | Path) -> list[Path]:
    """Copy ``paths`` into ``folder`` (made if needed), keeping names; a name already there
    gets ``-2``, ``-3``… Returns the files written."""
    import shutil

    folder = Path(folder)
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for source in map(Path, paths):
            target, count = folder / source.name, 1
            while target.exists():
                count += 1
                target = folder / f"{source.stem}-{count}{source.suffix}"
            written.append(Path(shutil.copy2(source, target)))
    except OSError as error:
        raise DatasetError(f"cannot copy the selection into {folder}: {error.strerror}") from None
    return written
