"""Timbre Lab's audio and machine-learning core.

Everything here runs without Qt: the desktop app (``app``) imports this package, never the other
way round, so the same code trains and generates on a server with no display.
"""

from __future__ import annotations

__version__ = "0.1.0"
