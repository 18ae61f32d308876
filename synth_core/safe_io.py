"""Reading files that come from outside: bounded, typed, and never blocking.

A run directory, a preset or an export sidecar may come from a download, a shared folder or a
hand edit, so every loader reads through here and meets hostile content with one typed error
(the caller's :class:`~synth_core.errors.TimbreLabError` subclass, naming the file), never a
traceback, a hang or an allocation the size of the file's claims:

* :func:`read_bytes` accepts only a regular file (a symlink to one is fine) no larger than its
  limit. It opens with ``O_NONBLOCK`` and checks the open descriptor with ``fstat``, so a FIFO
  cannot block the reader, a device (``/dev/zero``) cannot feed it forever, a folder is named as
  a folder, and a file swapped between the check and the open is still caught.
* :func:`parse_json` decodes strict UTF-8 and refuses nesting deeper than
  :data:`MAX_JSON_DEPTH` before the recursive parser sees it (``"[" * 100000`` would otherwise
  end in ``RecursionError``), and numbers with more digits than Python converts.
* :func:`read_safetensors` reads the 8-byte header length and the JSON header first and checks
  every tensor's dtype, shape and byte range against the file's real size before any tensor is
  built (:func:`check_safetensors_header`).

Size limits, chosen far above anything Timbre Lab writes (the largest starter's
``weights.safetensors`` is 7.5 MB, a ``model.json`` a few kB) and far below what would strain
the machine that opens the file:

=====================================  ========  ===========================================
file                                   limit     why
=====================================  ========  ===========================================
model.json, presets, export sidecars   16 MiB    held in memory and parsed whole
history.jsonl                          256 MiB   one short line per logged step
weights and optimizer safetensors      2 GiB     read whole; trainable models are far smaller
a safetensors file's JSON header       16 MiB    names, dtypes, shapes and offsets only
=====================================  ========  ===========================================
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from synth_core.errors import TimbreLabError

MiB = 1 << 20
MAX_JSON_BYTES = 16 * MiB
MAX_HISTORY_BYTES = 256 * MiB
MAX_TENSORS_BYTES = 2048 * MiB
MAX_HEADER_BYTES = 16 * MiB
#: Deepest nesting of arrays and objects accepted; our files nest four levels at most.
MAX_JSON_DEPTH = 64
#: Most dimensions one stored tensor may have.
MAX_TENSOR_DIMS = 8

#: safetensors dtype names and their sizes in bytes, as the format defines them.
SAFETENSORS_DTYPES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _say(
    error: type[TimbreLabError], what: str | None, message: str, *, path: str | Path
) -> TimbreLabError:
    return error(f"not {what}: {message}" if what else message, path=path)


def _size_text(size: int) -> str:
    return f"{size / MiB:.1f} MiB" if size >= MiB else f"{size} bytes"


def read_bytes(
    path: str | Path, *, limit: int, error: type[TimbreLabError], what: str | None = None
) -> bytes:
    """The whole content of the regular file ``path``, at most ``limit`` bytes.

    Parameters
    ----------
    path : str or Path
        The file; a symlink is followed, but must end at a regular file.
    limit : int, keyword-only
        Largest size accepted, bytes.
    error : TimbreLabError subclass, keyword-only
        What to raise; the message names the file and what is wrong with it.
    what : str, keyword-only
        What the file should have been ("a Timbre Lab preset file"): messages then start
        "not WHAT: ".

    Raises
    ------
    error
        Missing, unreadable, not a regular file (folder, pipe, device, socket) or too large.
        A missing file raises it with ``FileNotFoundError`` as its ``__cause__`` so callers
        can word that case themselves.
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError as missing:
        raise _say(error, what, "file is missing", path=path) from missing
    except OSError as failure:
        raise _say(error, what, f"cannot read it ({failure.strerror})", path=path) from None
    except ValueError:  # a NUL character in the name
        raise _say(error, what, "is not a usable file name", path=path) from None
    if not stat.S_ISREG(info.st_mode):
        raise _say(error, what, f"is {_kind(info.st_mode)}, not a file", path=path)
    if info.st_size > limit:
        raise _say(
            error,
            what,
            f"is {_size_text(info.st_size)}; files of this kind are at most {_size_text(limit)}",
            path=path,
        )
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as failure:
        raise _say(error, what, f"cannot read it ({failure.strerror})", path=path) from None
    try:
        info = os.fstat(fd)  # what was opened, which may not be what was checked
        if not stat.S_ISREG(info.st_mode):
            raise _say(error, what, f"is {_kind(info.st_mode)}, not a file", path=path)
        chunks = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(limit + 1 - total, 64 * MiB))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as failure:
        raise _say(error, what, f"cannot read it ({failure.strerror})", path=path) from None
    finally:
        os.close(fd)
    if total > limit:
        raise _say(error, what, f"grew past {_size_text(limit)} while being read", path=path)
    return b"".join(chunks)


def json_depth(data: bytes) -> int:
    """Deepest nesting of ``[`` and ``{`` in JSON text ``data`` (brackets in strings ignored).

    Vectorised (a regular expression and a cumulative sum), so checking 16 MiB takes
    milliseconds rather than the seconds a Python loop over characters would.
    """
    if not (b"[" in data or b"{" in data):
        return 0
    bare = np.frombuffer(_STRING.sub(b'""', data), dtype=np.uint8)
    steps = np.zeros(bare.shape, dtype=np.int8)
    steps[(bare == ord("[")) | (bare == ord("{"))] = 1
    steps[(bare == ord("]")) | (bare == ord("}"))] = -1
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def parse_json(
    data: bytes, *, path: str | Path, error: type[TimbreLabError], what: str | None = None
) -> Any:
    """Parse JSON bytes: strict UTF-8, nesting at most :data:`MAX_JSON_DEPTH`.

    ``NaN`` and ``Infinity`` parse as Python floats (as ``json`` writes them); loaders check
    the values they use (:func:`finite_number`).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as failure:
        raise _say(
            error,
            what,
            f"is not UTF-8 text (byte {failure.start} is 0x{data[failure.start]:02x})",
            path=path,
        ) from None
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise _say(
            error,
            what,
            f"is not valid JSON here: nested {depth} levels deep (at most {MAX_JSON_DEPTH})",
            path=path,
        )
    try:
        return json.loads(text)
    except RecursionError:  # unbalanced brackets can slip past the depth count
        raise _say(error, what, "is not valid JSON here: nested too deeply", path=path) from None
    except ValueError as failure:  # JSONDecodeError, and integers of more than 4300 digits
        raise _say(error, what, f"is not valid JSON ({failure})", path=path) from None


def read_json_object(
    path: str | Path,
    *,
    error: type[TimbreLabError],
    limit: int = MAX_JSON_BYTES,
    what: str | None = None,
) -> dict[str, Any]:
    """A JSON file whose top level must be an object: :func:`read_bytes` + :func:`parse_json`."""
    data = parse_json(
        read_bytes(path, limit=limit, error=error, what=what), path=path, error=error, what=what
    )
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", type(None): "null"}.get(type(data), "a number")
        raise _say(error, what, f"holds {kind}, not a JSON object", path=path)
    return data


def finite_number(
    value: Any,
    name: str,
    *,
    path: str | Path | None,
    error: type[TimbreLabError],
    low: float = -math.inf,
    high: float = math.inf,
) -> float:
    """``value`` as a finite float in ``low``–``high``; booleans and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{name} must be a number, not {value!r:.60}", path=path)
    try:
        number = float(value)
    except OverflowError:
        raise error(f"{name} {value!r:.40} is too large", path=path) from None
    if not math.isfinite(number):
        raise error(f"{name} is {number}, not a finite number", path=path)
    if not low <= number <= high:
        raise error(f"{name} {value!r:.40} is outside {low:g}–{high:g}", path=path)
    return number


def whole_number(
    value: Any,
    name: str,
    *,
    path: str | Path | None,
    error: type[TimbreLabError],
    low: int,
    high: int,
) -> int:
    """``value`` as an int in ``low``–``high``: a JSON integer, not a boolean, float or string."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name} must be a whole number, not {value!r:.60}", path=path)
    if not low <= value <= high:
        raise error(f"{name} {value!r:.40} is outside {low}–{high}", path=path)
    return value


def check_safetensors_header(data: bytes, *, path: str | Path, error: type[TimbreLabError]) -> dict:
    """Validate the header of safetensors bytes ``data`` against their real length.

    The layout is an 8-byte little-endian header length ``N``, ``N`` bytes of JSON
    ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``,
    then the tensor bytes, offsets relative to their start. Every tensor's byte range must lie
    inside the file and match its dtype and shape, and the ranges must tile the data exactly.

    Returns
    -------
    dict
        The parsed header.
    """
    if len(data) < 8:
        raise error(f"is not a safetensors file ({len(data)} bytes, no header)", path=path)
    length = int.from_bytes(data[:8], "little")
    if length < 2 or length > min(MAX_HEADER_BYTES, len(data) - 8):
        raise error(
            f"is not a safetensors file (its header claims {length} bytes in a file of "
            f"{len(data)})",
            path=path,
        )
    header = parse_json(data[8 : 8 + length], path=path, error=error)
    if not isinstance(header, dict):
        raise error("is not a safetensors file (its header is not a JSON object)", path=path)
    available = len(data) - 8 - length
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise error("safetensors metadata must map names to strings", path=path)
            continue
        where = f"tensor {name!r:.60}"
        if not isinstance(entry, dict):
            raise error(f"{where}: header entry is not an object", path=path)
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPES:
            known = ", ".join(SAFETENSORS_DTYPES)
            raise error(f"{where}: dtype {dtype!r:.40} is not one of {known}", path=path)
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_TENSOR_DIMS
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)
        ):
            raise error(
                f"{where}: shape {shape!r:.60} is not a list of at most {MAX_TENSOR_DIMS} sizes",
                path=path,
            )
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= available
        ):
            raise error(
                f"{where}: data_offsets {offsets!r:.60} are not a range inside the file's "
                f"{available} data bytes",
                path=path,
            )
        needed = math.prod(shape) * SAFETENSORS_DTYPES[dtype]
        if offsets[1] - offsets[0] != needed:
            raise error(
                f"{where}: {dtype} {shape} needs {needed} bytes but its offsets span "
                f"{offsets[1] - offsets[0]}",
                path=path,
            )
        spans.append((offsets[0], offsets[1]))
    end = 0
    for begin, stop in sorted(spans):
        if begin != end:
            raise error("tensor data overlaps or leaves gaps; the file is corrupt", path=path)
        end = stop
    if end != available:
        raise error(
            f"tensor data covers {end} of {available} bytes; the file is corrupt", path=path
        )
    return header


def read_safetensors(
    path: str | Path, *, error: type[TimbreLabError], limit: int = MAX_TENSORS_BYTES
) -> tuple[dict[str, Any], Mapping[str, str]]:
    """Tensors and metadata of the safetensors file ``path``, its header checked first.

    Returns
    -------
    tensors : dict of str to torch.Tensor
    metadata : mapping of str to str
        The header's ``__metadata__`` (empty when there is none).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    data = read_bytes(path, limit=limit, error=error)
    header = check_safetensors_header(data, path=path, error=error)
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, TypeError, RuntimeError) as failure:
        raise error(f"is not a readable safetensors file ({failure})", path=path) from None
    return tensors, dict(header.get("__metadata__", {}))


# Fields of presets and sidecars -----------------------------------------------------------------
#
# One policy for every file that stores slider settings (explore-panel presets, export
# sidecars), so a hand-edited or hostile file meets the same checks everywhere:
#
# * a format version must be a whole number from 1 up to what this Timbre Lab writes; a newer
#   one says so, anything else (negative, true, "1", 1.5) is refused;
# * names (model, family, preset name) must be strings;
# * control values must be finite numbers: NaN, ±Infinity (which Python's json reads from
#   ``NaN``/``Infinity``), true/false and strings are refused, not clamped, because a value
#   that is not a number has no nearest value in range; a finite value outside a control's range
#   is refused by the control's own check where the loader knows the model;
# * a pitch must be a MIDI note 0–127 (refused outside: a note the keyboard cannot show is not
#   a setting to guess at);
# * a seed must be a whole number 0 ≤ seed < 2**64 (torch's generator takes no more), or below
#   a smaller bound the caller gives (the explore panel's seed box stops at 2**31 − 1).

MIDI_LOWEST, MIDI_HIGHEST = 0, 127
MAX_SEED = 2**64 - 1
#: Most control values one preset or sidecar may hold (every family has a few dozen at most).
MAX_CONTROLS = 4096


def format_version(
    data: Mapping[str, Any],
    key: str,
    *,
    current: int,
    path: str | Path,
    error: type[TimbreLabError],
    default: int | None = None,
    lowest: int = 1,
) -> int:
    """The whole-number format version ``data[key]`` (``default`` when absent and allowed)."""
    if key not in data and default is not None:
        return default
    version = data.get(key)
    if isinstance(version, bool) or not isinstance(version, int) or version < lowest:
        raise error(
            f"{key} {version!r:.40} is not a format version ({lowest} up to {current})", path=path
        )
    if version > current:
        raise error(
            f"written by a newer Timbre Lab ({key} {version}; this one reads up to {current}); "
            "update Timbre Lab to open it",
            path=path,
        )
    return version


def text(
    data: Mapping[str, Any],
    key: str,
    *,
    path: str | Path | None,
    error: type[TimbreLabError],
    default: str | None = None,
) -> str:
    """The string ``data[key]`` (``default`` when absent and given)."""
    if key not in data:
        if default is not None:
            return default
        raise error(f"has no {key!r}", path=path)
    value = data[key]
    if not isinstance(value, str):
        raise error(f"{key} must be a string, not {value!r:.60}", path=path)
    return value


def control_values(
    value: Any, name: str, *, path: str | Path | None, error: type[TimbreLabError]
) -> dict[str, float]:
    """``{control name: finite number}`` from a JSON object (see the policy above)."""
    if not isinstance(value, dict):
        raise error(f"{name} must be an object of control values, not {value!r:.60}", path=path)
    if len(value) > MAX_CONTROLS:
        raise error(f"{name} holds {len(value)} values (at most {MAX_CONTROLS})", path=path)
    return {
        key: finite_number(number, f"{name}[{key!r:.40}]", path=path, error=error)
        for key, number in value.items()
    }


def pitch(value: Any, *, path: str | Path | None, error: type[TimbreLabError]) -> float | None:
    """None, or a MIDI note number 0–127 as a float (fractional notes are kept)."""
    if value is None:
        return None
    return finite_number(value, "pitch", path=path, error=error, low=MIDI_LOWEST, high=MIDI_HIGHEST)


def seed(
    value: Any, *, path: str | Path | None, error: type[TimbreLabError], highest: int = MAX_SEED
) -> int:
    """A seed: a whole number 0 ≤ seed ≤ ``highest`` (at most 64 bits)."""
    return whole_number(value, "seed", path=path, error=error, low=0, high=highest)
