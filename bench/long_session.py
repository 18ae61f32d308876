"""A long session with the real app: memory growth and leaked threads (printed, never asserted).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/long_session.py \
        [--sliders 10000] [--cycles 200] [--model builtin-vae] [--json OUT.json]

The main window is built as ``timbrelab`` builds it: the Studio, the Explore panel and its
latest-wins generation worker, the sound view and its analysis workers, the transport bar and
the :class:`~app.player.Player`. Slider changes take the path of a mouse drag:
``setSliderDown(True)`` (``sliderPressed``), ``--gesture`` ``setValue`` steps (each one
``valueChanged`` → the panel → a render request), ``setSliderDown(False)`` (one undo entry), with
the event loop running for ``--move-ms`` between steps, as it runs between the moves of a mouse;
after each drag the session waits for the sound of the final setting, as a listener does. Every
delivered sound is drawn and auto-played, as in the app. A generate/play cycle is a click on
Randomise, the sound auto-played through the transport until its first block has reached the
output, ``--listen-s`` more seconds of playing, then Stop.

Audio goes to a private PulseAudio server with a null sink (``tests/support/pulse.py``), so
nothing is heard and the whole PortAudio path runs; without PulseAudio the app runs as it does
with no output (sounds are drawn, not played), and the report says so.

Memory is ``VmRSS`` from ``/proc/self/status``; growth is counted from the end of a warm-up (its
own drags and cycles, so that caches, the audio stream and the plots exist) to the end of the
session. Threads: Python threads (``threading.enumerate``), running ``QThread``s under the
window and in Qt's global pool, and the process's OS threads (``/proc/self/status``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SLIDER_STEPS = 1000  # app.widgets.control_row.SLIDER_STEPS, read again below once Qt is imported


def proc_status(field: str) -> int:
    """An integer field of ``/proc/self/status`` (``VmRSS`` is in kB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def rss_mb(*, collect: bool = True) -> float:
    """Resident memory now, MB (10^6 bytes), after a full garbage collection when ``collect``
    (half a second with torch loaded: the samples along the way skip it)."""
    if collect:
        gc.collect()
    return proc_status("VmRSS") * 1024 / 1e6


def python_threads() -> list[str]:
    """The names of the live Python threads."""
    return sorted(thread.name for thread in threading.enumerate())


def os_threads() -> list[str]:
    """The names of this process's OS threads (Python's own, Qt's, PortAudio's, torch's)."""
    names = []
    for task in Path("/proc/self/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:  # the thread ended while we looked
            continue
    return sorted(names)


class Session:
    """The app's main window with one model loaded, driven as a user would drive it."""

    def __init__(
        self,
        app: QApplication,
        model_id: str,
        *,
        move_s: float = 0.008,
        listen_s: float = 0.1,
        timeout_s: float = 60.0,
    ) -> None:
        from PySide6.QtCore import QThread, QThreadPool

        from app.main_window import MainWindow
        from app.settings import AppSettings

        self.app = app
        self.move_s, self.listen_s, self.timeout_s = move_s, listen_s, timeout_s
        self._qthread, self._pool = QThread, QThreadPool
        self.window = MainWindow(AppSettings())
        self.window.show()
        self.explore = self.window.studio.explore
        self.transport = self.window.transport
        self.player = self.window.player
        self.changes = self.delivered = self.renders = self.heard = 0
        self.audio_errors: list[str] = []
        self.explore.soundGenerated.connect(self._count_delivery)
        self.transport.statusMessage.connect(self.audio_errors.append)
        self.pump()
        self.window.studio.open_model(model_id)
        self.wait(lambda: self.explore.model_id == model_id, f"the model {model_id} to load")
        model = self.explore.model
        generate = model.generate

        def counted_generate(*args, **kwargs):
            self.renders += 1
            return generate(*args, **kwargs)

        model.generate = counted_generate  # counts the renders the worker really ran
        for row in self.explore._rows.values():
            row.valueChanged.connect(self._count_change)
        self.player.wait_ready(10.0)
        self.until_delivered(self.explore.request_sound, "the first sound")
        self._rng = np.random.default_rng(0)
        self._gestures = 0

    def _count_delivery(self, _samples: object, _rate: int) -> None:
        self.delivered += 1

    def _count_change(self, _name: str, _value: float) -> None:
        self.changes += 1

    def pump(self) -> None:
        """Run the event loop once, deferred deletes included (as ``exec()`` would)."""
        from PySide6.QtCore import QCoreApplication, QEvent

        self.app.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)

    def idle(self, seconds: float) -> None:
        """Keep the event loop running for ``seconds`` (at least once)."""
        until = time.monotonic() + seconds
        self.pump()
        while time.monotonic() < until:
            time.sleep(0.001)
            self.pump()

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {self.timeout_s:.0f} s for {what}")
            self.pump()
            time.sleep(0.001)

    def until_delivered(self, action: Callable[[], object], what: str) -> None:
        """Do ``action`` and wait for the sound it asks for (a later request's sound counts)."""
        before = self.delivered
        action()
        self.wait(lambda: self.delivered > before, what)

    def drag(self, changes: int) -> int:
        """One slider drag of ``changes`` steps; returns how many it made."""
        rows = list(self.explore._rows.values())
        slider = rows[self._gestures % len(rows)].slider
        self._gestures += 1
        direction = 1 if self._rng.random() < 0.5 else -1
        before = self.delivered
        slider.setSliderDown(True)
        for _ in range(changes):
            step = direction * int(self._rng.integers(1, 25))
            if not 0 <= slider.value() + step <= SLIDER_STEPS:
                direction, step = -direction, -step
            slider.setValue(slider.value() + step)
            self.idle(self.move_s)
        entries, released = self.explore.undo_stack.count(), self.delivered
        slider.setSliderDown(False)  # the release: one undo entry, and a render of its setting
        if self.explore.undo_stack.count() > entries:
            self.wait(lambda: self.delivered > released, "the sound after a drag")
        else:  # the drag ended where it began: the last step's render is the one to hear
            worker = self.explore._worker
            self.wait(lambda: self.delivered > before and not worker.is_busy(), "a drag")
        return changes

    def sliders(self, total: int, gesture: int, samples: list[tuple[str, float]] | None) -> float:
        """``total`` slider changes in drags of ``gesture``; returns the seconds they took.
        Resident memory is noted in ``samples`` ten times along the way."""
        started, done, next_sample = time.perf_counter(), 0, total / 10
        while done < total:
            done += self.drag(min(gesture, total - done))
            if samples is not None and done >= next_sample:
                samples.append((f"sliders {done}", rss_mb(collect=False)))
                next_sample += total / 10
        return time.perf_counter() - started

    def cycle(self) -> None:
        """Randomise; once the sound's first block reached the output, let it play for
        ``listen_s`` seconds, then press Stop."""
        self.until_delivered(self.explore.randomise_button.click, "a randomised sound")
        if not self.transport.available:
            return
        player = self.player
        self.wait(lambda: player.position_s > 0 or not player.is_playing, "the sound to play")
        if player.position_s > 0:
            self.heard += 1
        self.idle(self.listen_s)
        self.transport.stop()
        self.wait(lambda: not player.is_playing, "playback to stop")

    def cycles(self, total: int, samples: list[tuple[str, float]] | None) -> float:
        started = time.perf_counter()
        for k in range(1, total + 1):
            self.cycle()
            if samples is not None and (k % max(1, total // 5) == 0 or k == total):
                samples.append((f"cycles {k}", rss_mb(collect=False)))
        return time.perf_counter() - started

    def running_qthreads(self) -> int:
        under_window = sum(t.isRunning() for t in self.window.findChildren(self._qthread))
        return under_window + self._pool.globalInstance().activeThreadCount()

    def close(self) -> None:
        self.window.close()
        self.pump()


def start_audio(use_pulse: bool) -> tuple[object | None, str]:
    """A private PulseAudio null sink for this process, or None and the reason there is none."""
    if not use_pulse:
        server = os.environ.get("PULSE_SERVER")
        return None, f"the sound server at {server}" if server else "the system's audio output"
    from tests.support.pulse import PulseUnavailable, start_pulse_null_sink

    try:
        server = start_pulse_null_sink()
    except PulseUnavailable as error:
        return None, f"no sound server ({error}); the app runs without audio output"
    os.environ.update(server.env())  # PortAudio reads it when the player thread starts it
    return server, "a private PulseAudio null sink"


def run(args: argparse.Namespace) -> dict:
    from PySide6.QtWidgets import QApplication

    from app.widgets import control_row

    assert control_row.SLIDER_STEPS == SLIDER_STEPS
    app = QApplication.instance() or QApplication([])
    report: dict = {"model": args.model, "audio": args.audio}
    threads_before = python_threads()
    os_threads_before = os_threads()
    report["rss_start_mb"] = rss_mb()
    session = Session(app, args.model, move_s=args.move_ms / 1000, listen_s=args.listen_s)
    report["rss_loaded_mb"] = rss_mb()
    report["player"] = session.player.state + (
        f" ({session.player.reason})" if session.player.reason else ""
    )

    session.sliders(args.warmup_sliders, args.gesture, None)
    session.cycles(args.warmup_cycles, None)
    report["rss_warm_mb"] = rss_mb()
    threads_warm = python_threads()
    os_threads_warm = os_threads()
    counts = (session.changes, session.renders, session.delivered, session.heard)

    samples: list[tuple[str, float]] = []
    slider_s = session.sliders(args.sliders, args.gesture, samples)
    cycle_s = session.cycles(args.cycles, samples)
    report["rss_end_mb"] = rss_mb()
    report["rss_samples"] = samples
    report["growth_mb"] = report["rss_end_mb"] - report["rss_warm_mb"]
    now = (session.changes, session.renders, session.delivered, session.heard)
    changes, renders, delivered, heard = (a - b for a, b in zip(now, counts, strict=True))
    report.update(
        slider_changes=changes,
        slider_seconds=slider_s,
        slider_changes_per_s=changes / slider_s if slider_s else 0.0,
        cycles=args.cycles,
        cycle_seconds=cycle_s,
        cycles_heard=heard,
        renders_run=renders,
        sounds_delivered=delivered,
        undo_entries=session.explore.undo_stack.count(),
        audio_errors=session.audio_errors,
        threads_python_before=threads_before,
        threads_python_warm=threads_warm,
        threads_python_end=python_threads(),
        threads_os_before=os_threads_before,
        threads_os_warm=os_threads_warm,
        threads_os_end=os_threads(),
        qthreads_running_end=session.running_qthreads(),
    )
    session.close()
    deadline = time.monotonic() + 5.0
    while python_threads() != threads_before and time.monotonic() < deadline:
        session.pump()
        time.sleep(0.01)
    report["threads_python_after_close"] = python_threads()
    report["threads_os_after_close"] = os_threads()
    report["qthreads_running_after_close"] = session.running_qthreads()
    report["rss_after_close_mb"] = rss_mb()
    return report


def print_report(r: dict) -> None:
    print(f"model {r['model']}; audio: {r['audio']}; player {r['player']}")
    print(
        f"slider changes      {r['slider_changes']} in {r['slider_seconds']:.1f} s "
        f"({r['slider_changes_per_s']:.0f}/s)"
    )
    print(
        f"generate/play cycles {r['cycles']} in {r['cycle_seconds']:.1f} s, heard {r['cycles_heard']}"
    )
    print(
        f"renders run         {r['renders_run']}, sounds delivered {r['sounds_delivered']}, "
        f"undo entries {r['undo_entries']}"
    )
    print(
        f"RSS MB              start {r['rss_start_mb']:.1f}  model loaded {r['rss_loaded_mb']:.1f}"
        f"  after warm-up {r['rss_warm_mb']:.1f}  end {r['rss_end_mb']:.1f}"
        f"  after close {r['rss_after_close_mb']:.1f}"
    )
    print("RSS along the way   " + "  ".join(f"{name}: {mb:.1f}" for name, mb in r["rss_samples"]))
    print(f"growth after warm-up {r['growth_mb']:+.1f} MB")
    print(
        f"Python threads      before {len(r['threads_python_before'])}  "
        f"warm {len(r['threads_python_warm'])} {r['threads_python_warm']}  "
        f"end {len(r['threads_python_end'])}  after close {len(r['threads_python_after_close'])}"
        f" {r['threads_python_after_close']}"
    )
    print(
        f"OS threads          before {len(r['threads_os_before'])}  "
        f"warm {len(r['threads_os_warm'])}  end {len(r['threads_os_end'])}  "
        f"after close {len(r['threads_os_after_close'])}"
    )
    for when in ("before", "end", "after_close"):
        names = Counter(r[f"threads_os_{when}"])
        print(f"  {when:<17} " + ", ".join(f"{n} x{k}" for n, k in sorted(names.items())))
    print(
        f"running QThreads    end {r['qthreads_running_end']}  "
        f"after close {r['qthreads_running_after_close']}"
    )
    if r["audio_errors"]:
        print(f"audio messages      {len(r['audio_errors'])}: {r['audio_errors'][:3]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sliders", type=int, default=10_000, help="slider changes measured")
    parser.add_argument("--cycles", type=int, default=200, help="generate/play cycles measured")
    parser.add_argument("--model", default="builtin-vae", help="starter model or physical:NAME")
    parser.add_argument("--gesture", type=int, default=50, help="slider changes per drag")
    parser.add_argument("--move-ms", type=float, default=8.0, help="between slider steps")
    parser.add_argument("--listen-s", type=float, default=0.1, help="seconds played per cycle")
    parser.add_argument("--warmup-sliders", type=int, default=1000)
    parser.add_argument("--warmup-cycles", type=int, default=10)
    parser.add_argument(
        "--no-pulse",
        action="store_true",
        help="start no private PulseAudio server: play where this environment points",
    )
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    private = tempfile.TemporaryDirectory(prefix="timbrelab-long-session-")
    for name in (
        "CACHE",
        "CONFIG",
        "DATA",
    ):  # the user's settings and recent models stay as they are
        os.environ.setdefault(f"TIMBRELAB_{name}_DIR", os.path.join(private.name, name.lower()))
    server, args.audio = start_audio(not args.no_pulse)
    try:
        report = run(args)
    except TimeoutError as error:
        print(f"long session stopped: {error}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
        private.cleanup()
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
