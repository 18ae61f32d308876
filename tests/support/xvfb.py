"""Start and stop a private Xvfb display for tests that need a real X server.

Xvfb picks a free display number itself (``-displayfd``) and writes it once the server accepts
connections, so there is no guessing of numbers and no sleeping.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass


class XvfbUnavailable(RuntimeError):
    """Xvfb is not installed or did not start; the message says which."""


@dataclass
class XvfbDisplay:
    """A running Xvfb server.

    Parameters
    ----------
    display : str
        Value for ``DISPLAY``, e.g. ``":42"``.
    process : subprocess.Popen
        The server process.
    """

    display: str
    process: subprocess.Popen

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment for a child process that should draw on this display with Qt's xcb."""
        env = dict(os.environ if base is None else base)
        env["DISPLAY"] = self.display
        env["QT_QPA_PLATFORM"] = "xcb"
        env.pop("WAYLAND_DISPLAY", None)
        return env

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the server and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout_s)


def start_xvfb(
    *, width: int = 1400, height: int = 900, depth: int = 24, timeout_s: float = 15.0
) -> XvfbDisplay:
    """Start ``Xvfb`` on a free display number and wait until it accepts clients.

    Parameters
    ----------
    width, height : int, keyword-only
        Screen size, pixels.
    depth : int, keyword-only
        Bits per pixel.
    timeout_s : float, keyword-only
        How long to wait for the server, seconds.

    Raises
    ------
    XvfbUnavailable
        When Xvfb is not installed or does not report a display in time.
    """
    binary = shutil.which("Xvfb")
    if binary is None:
        raise XvfbUnavailable("Xvfb is not installed (Debian package xvfb)")
    read_fd, write_fd = os.pipe()
    try:
        process = subprocess.Popen(
            [
                binary,
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                f"{width}x{height}x{depth}",
                "-nolisten",
                "tcp",
                "-noreset",
            ],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    finally:
        os.close(write_fd)
    # Xvfb writes the number, then a newline in a second write, and dies if the pipe is closed
    # in between: read up to the newline.
    received = b""
    deadline = time.monotonic() + timeout_s
    try:
        while not received.endswith(b"\n"):
            ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(read_fd, 64) if ready else b""
            if not chunk:
                break
            received += chunk
    finally:
        os.close(read_fd)
    number = received.decode().strip() if received.endswith(b"\n") else ""
    if not number:
        process.kill()
        process.wait()
        raise XvfbUnavailable(f"Xvfb did not report a display within {timeout_s:.0f} s")
    return XvfbDisplay(display=f":{number}", process=process)
