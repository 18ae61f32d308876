"""Commands on a really full disk: a 64 KiB tmpfs, mounted where the test may (root, Linux).

The in-process tests in ``tests/core/test_checkpoint_faults.py`` inject ``ENOSPC`` into Python's
own writes; these cover the writes libsndfile makes in C, whose only report is "System error".
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def _timbrelab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synth_core", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    "command",
    [
        ("generate", "physical:string", "--n", "4", "--out"),
        ("starter-data",),
    ],
    ids=["generate", "starter-data"],
)
def test_a_full_disk_is_named_with_exit_1_not_a_system_error(full_disk: Path, command) -> None:
    result = _timbrelab(*command, str(full_disk / "out"))
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "disk full while writing" in lines[0]
    assert str(full_disk) in lines[0]
    assert "System error" not in result.stderr
    assert "Traceback" not in result.stderr
