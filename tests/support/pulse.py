"""Start and stop a private PulseAudio server with a null sink, for real playback tests.

The server runs in a fresh ``XDG_RUNTIME_DIR`` (mode 700), so it never meets a user's own sound
server; ``null.monitor`` records whatever is played to the ``null`` sink. PortAudio finds it
through ALSA's ``pulse`` plugin (``default`` and ``pulse`` devices), which reads the environment
when PortAudio initialises: give :meth:`PulseServer.env` to a *child process*.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class PulseUnavailable(RuntimeError):
    """PulseAudio is not installed or would not start; the message says why."""


@dataclass
class PulseServer:
    """A running private PulseAudio server.

    Parameters
    ----------
    runtime_dir : Path
        Its ``XDG_RUNTIME_DIR``; the socket is ``runtime_dir/pulse/native``.
    """

    runtime_dir: Path

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment in which audio programs talk to this server."""
        env = dict(os.environ if base is None else base)
        env["XDG_RUNTIME_DIR"] = str(self.runtime_dir)
        env["PULSE_SERVER"] = f"unix:{self.runtime_dir / 'pulse' / 'native'}"
        return env

    def pactl(self, *args: str, timeout_s: float = 5.0) -> subprocess.CompletedProcess:
        """Run ``pactl`` against this server."""
        return subprocess.run(
            ["pactl", *args], env=self.env(), capture_output=True, text=True, timeout=timeout_s
        )

    def stop(self) -> None:
        """Ask the server to exit, then remove its runtime folder."""
        subprocess.run(
            ["pulseaudio", "-k"], env=self.env(), capture_output=True, timeout=10, check=False
        )
        deadline = time.monotonic() + 5.0
        while (self.runtime_dir / "pulse" / "pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.runtime_dir, ignore_errors=True)


def start_pulse_null_sink(*, timeout_s: float = 10.0) -> PulseServer:
    """Start PulseAudio with a ``null`` sink as the default sink and its monitor as the source.

    Raises
    ------
    PulseUnavailable
        When ``pulseaudio``/``pactl`` are missing or the server does not answer in time.
    """
    for program in ("pulseaudio", "pactl"):
        if shutil.which(program) is None:
            raise PulseUnavailable(
                f"{program} is not installed (Debian packages pulseaudio, pulseaudio-utils)"
            )
    runtime_dir = Path(tempfile.mkdtemp(prefix="timbrelab-pulse-"))
    runtime_dir.chmod(0o700)
    server = PulseServer(runtime_dir)
    started = subprocess.run(
        [
            "pulseaudio",
            "-D",
            "-n",
            "--exit-idle-time=-1",
            "--load=module-native-protocol-unix",
            "--load=module-null-sink sink_name=null",
        ],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if started.returncode != 0:
        shutil.rmtree(runtime_dir, ignore_errors=True)
        raise PulseUnavailable(f"pulseaudio would not start: {started.stderr.strip()[-300:]}")
    deadline = time.monotonic() + timeout_s
    while server.pactl("info").returncode != 0:
        if time.monotonic() > deadline:
            server.stop()
            raise PulseUnavailable(f"pulseaudio did not answer within {timeout_s:.0f} s")
        time.sleep(0.1)
    for args in (("set-default-sink", "null"), ("set-default-source", "null.monitor")):
        result = server.pactl(*args)
        if result.returncode != 0:
            server.stop()
            raise PulseUnavailable(f"pactl {' '.join(args)} failed: {result.stderr.strip()}")
    return server
