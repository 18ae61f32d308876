"""What a sound file's name says: its pitch label, and how it prints on a terminal.

Training data is labelled by name (``kick__p036.wav`` is MIDI note 36, see :func:`pitch_from_name`),
and every file name that reaches the terminal goes through :func:`printable_name`, so a name that
is not UTF-8 or holds a newline or escape sequence prints as one escaped line.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

_PITCH_PATTERN = re.compile(r"__p(\d{1,3}(?:\.\d+)?)$", re.IGNORECASE)


def pitch_from_name(path: str | Path) -> float | None:
    """MIDI note number from a ``name__pNNN.ext`` file name.

    ``"kick__p036.wav"`` gives 36.0 and ``"pad__p60.5.flac"`` gives 60.5; names without the label,
    or with a note outside 0–127, give None.
    """
    match = _PITCH_PATTERN.search(Path(path).stem)
    if match is None:
        return None
    pitch = float(match.group(1))
    return pitch if 0.0 <= pitch <= 127.0 else None


# Invisible characters that reorder the text around them: a name holding one can make a
# terminal line read as something else.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable_name(name: str | os.PathLike[str]) -> str:
    """A file name or path as one safe line of terminal text.

    Bytes that are not UTF-8 (kept by Python as surrogates) become ``\\xNN``; control
    characters (newline, escape sequences, line and paragraph separators) and bidirectional
    overrides become ``\\n``, ``\\x1b``, ``\\u202e``…; everything else, accents and CJK
    included, is kept as it is.
    """
    text = os.fspath(name)
    out: list[str] = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in _BIDI_CONTROLS:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)
