"""Fixtures for every test: Qt without a display, a private PulseAudio server, an Xvfb display,
and a folder outside the repository for screenshots.

Qt tests run offscreen unless a test starts Xvfb itself (see ``xvfb_display``); the variable is
set here, before any test imports PySide6, so no test can open a real window by accident.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.pulse import PulseServer, PulseUnavailable, start_pulse_null_sink
from tests.support.xvfb import XvfbDisplay, XvfbUnavailable, start_xvfb

if TYPE_CHECKING:
    from synth_core.models import Family

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# No test (nor a child process it starts) writes to the real user folders: one private set of
# cache, config and data folders for the whole session, unless a test narrows it further.
_PRIVATE_ROOT = tempfile.mkdtemp(prefix="timbrelab-tests-")
atexit.register(shutil.rmtree, _PRIVATE_ROOT, ignore_errors=True)
for _name in ("CACHE", "CONFIG", "DATA"):
    os.environ.setdefault(f"TIMBRELAB_{_name}_DIR", os.path.join(_PRIVATE_ROOT, _name.lower()))


@pytest.fixture(scope="module")
def toy_family() -> Iterator[Family]:
    """The toy family of ``tests/support/toy_family.py``, registered for one test module and
    taken out of the registry after it, so other tests list only the real families."""
    from synth_core import models
    from tests.support import toy_family as toy

    models.register(toy.FAMILY)
    yield toy.FAMILY
    models.FAMILIES.pop(toy.FAMILY.name, None)


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tests save screenshots for a person to look at: ``$TIMBRELAB_ARTIFACTS`` when set
    (``make screenshots`` points it at ``docs/screenshots``), else a folder in this session's
    pytest temporary directory, so running the tests never changes a tracked file."""
    folder = os.environ.get("TIMBRELAB_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def pulse_server() -> Iterator[PulseServer]:
    """A private PulseAudio server whose default sink is ``null`` (monitor: ``null.monitor``).

    Hand ``pulse_server.env()`` to a child process: PortAudio reads it only when it starts.
    Skips the test, with the reason, when PulseAudio cannot start here.
    """
    try:
        server = start_pulse_null_sink()
    except PulseUnavailable as error:
        pytest.skip(f"PulseAudio unavailable: {error}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def xvfb_display() -> Iterator[XvfbDisplay]:
    """A private Xvfb display (1400x900x24); ``xvfb_display.env()`` is for child processes."""
    try:
        display = start_xvfb()
    except XvfbUnavailable as error:
        pytest.skip(f"Xvfb unavailable: {error}")
    try:
        yield display
    finally:
        display.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After the run, the bad-input corpus's count of outcomes (``tests/support/bad_inputs.py``),
    when its tests ran: shown by ``make test`` whatever ``-q`` or ``-s`` hide."""
    corpus = sys.modules.get("tests.support.bad_inputs")
    table = corpus.TALLY.table() if corpus is not None else ""
    if table:
        terminalreporter.write_sep("-", "bad-input corpus")
        terminalreporter.write_line(table)
