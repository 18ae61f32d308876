"""Prepared clips cached by file content in the user cache folder (plain ``.npy``, never pickle)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# 2: clips of files over full scale are scaled to a 0 dBFS peak (judge_level)
_CACHE_VERSION = 2
_HASH_BYTES = 65536


def content_key(path: Path, *parameters: object) -> str:
    """Hash of what identifies a file's content cheaply (size, mtime, first and last bytes)."""
    stat = path.stat()
    digest = hashlib.sha256()
    digest.update(repr((_CACHE_VERSION, stat.st_size, stat.st_mtime_ns, parameters)).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(_HASH_BYTES))
        if stat.st_size > _HASH_BYTES:
            handle.seek(max(_HASH_BYTES, stat.st_size - _HASH_BYTES))
            digest.update(handle.read(_HASH_BYTES))
    return digest.hexdigest()


class ClipCache:
    """Prepared clips as ``.npy`` files under the user cache folder, one per file and settings.

    Entries are read with ``allow_pickle=False``; one that does not load as the expected float32
    vector is deleted and rebuilt. A cache that cannot be written only costs speed.
    """

    def __init__(self, root: Path, length: int) -> None:
        self.root = root
        self.length = length

    def file(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def read(self, key: str) -> np.ndarray | None:
        cached = self.file(key)
        if not cached.exists():
            return None
        try:
            clip = np.load(cached, allow_pickle=False)
            if (
                clip.dtype == np.float32
                and clip.shape == (self.length,)
                and np.isfinite(clip).all()
            ):
                return clip
            reason = f"holds {clip.dtype} {clip.shape}"
        except (OSError, ValueError, EOFError) as error:
            reason = str(error)
        log.warning("ignoring corrupt cache entry %s (%s); rebuilding it", cached, reason)
        with contextlib.suppress(OSError):
            cached.unlink()
        return None

    def write(self, key: str, clip: np.ndarray) -> None:
        cached = self.file(key)
        temp = cached.with_name(f".{cached.name}.{os.getpid()}.part")
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as handle:
                np.save(handle, clip, allow_pickle=False)
            os.replace(temp, cached)
        except OSError as error:
            log.warning("cannot write clip cache %s (%s); continuing without it", cached, error)
            with contextlib.suppress(OSError):
                temp.unlink()
