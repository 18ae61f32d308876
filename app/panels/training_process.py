"""The training child process as the training panel drives it.

Training runs as ``python -m synth_core.cli train … --progress jsonl`` (the argv comes from
:func:`synth_core.progress.train_argv`), read line by line through :class:`QProcess` and decoded
into the typed events of :mod:`synth_core.progress`. The window stays responsive, a crash of the
child cannot take it down, and the command line and the app share one code path. Pause and
resume are SIGSTOP/SIGCONT of the child (and of torchrun's processes under it); stop is SIGINT, on which the trainer finishes its step
and writes a checkpoint.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from synth_core.progress import EventLineError, decode

log = logging.getLogger(__name__)

STDERR_LINES = 30
"""How many of the child's last stderr lines (and lines that were not events) are kept."""
STOP_WAIT_MS = 30000


def descendants(pid: int) -> list[int]:
    """The processes started under ``pid``, children first (torchrun's training processes
    under ``timbrelab train --nproc N``), read from /proc; none where there is no /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # the name in parentheses may hold spaces; the parent's pid is 2 fields after it
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found: list[int] = []
    queue = list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


class TrainingProcess(QObject):
    """One ``timbrelab train`` child at a time, its events, and the tail of its stderr.

    Signals
    -------
    eventReceived(event)
        Every event the child wrote, as a :mod:`synth_core.progress` dataclass.
    ended(exit_code: int, crashed: bool)
        The child is gone; ``crashed`` when it died of a signal that no :meth:`stop` sent.
    failedToStart(reason: str)
        The interpreter could not be started at all.
    """

    eventReceived = Signal(object)
    ended = Signal(int, bool)
    failedToStart = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: QProcess | None = None
        self.paused = False
        # a stop was asked for: the child's exit (even by a signal) is then no crash
        self.stopping = False
        self._stdout_buffer = b""
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)

    def is_running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def start(self, argv: list[str]) -> None:
        """Run ``argv`` (interpreter first) as the child, unbuffered so events arrive at once."""
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(environment)
        process.setProgram(argv[0])
        process.setArguments(argv[1:])
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._process_error)
        self.process = process
        self.paused = False
        self.stopping = False
        self._stdout_buffer = b""
        self._stderr_tail.clear()
        log.info("training: %s", " ".join(argv))
        process.start()

    def set_paused(self, paused: bool) -> None:
        """Hold (SIGSTOP) or continue (SIGCONT) the child."""
        if not self.is_running() or paused == self.paused:
            return
        # with --nproc the child is torchrun's launcher: its training processes are held too
        sig = signal.SIGSTOP if paused else signal.SIGCONT
        for pid in [self._pid(), *descendants(self._pid())]:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:  # a process that ended meanwhile
                continue
        self.paused = paused

    def stop(self) -> None:
        """Ask the child to stop after its current step; it writes a checkpoint first."""
        if not self.is_running():
            return
        self.set_paused(False)
        self.stopping = True
        os.kill(self._pid(), signal.SIGINT)

    def stop_and_wait(self, timeout_ms: int = STOP_WAIT_MS) -> None:
        """Stop and block until the child is gone (killing it after ``timeout_ms``)."""
        if not self.is_running():
            return
        self.stop()
        if not self.process.waitForFinished(timeout_ms):
            log.warning("training did not stop in %d ms; killing it", timeout_ms)
            self.process.kill()
            self.process.waitForFinished(2000)

    def stderr_tail(self) -> str:
        """The child's last stderr lines (and stdout lines that were not events), or ""."""
        return "\n".join(self._stderr_tail)

    def error_string(self) -> str:
        return self.process.errorString() if self.process is not None else ""

    def _pid(self) -> int:
        return int(self.process.processId())

    def _read_stdout(self, *, to_the_end: bool = False) -> None:
        """Decode every complete line read so far (and, ``to_the_end``, an unterminated last)."""
        self._stdout_buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._stdout_buffer = self._stdout_buffer.split(b"\n")
        if to_the_end:
            lines.append(self._stdout_buffer)
            self._stdout_buffer = b""
        for line in lines:
            text = line.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                event = decode(text)
            except EventLineError as error:
                # a stray print or a cut-off line: keep it for the crash details, go on reading
                log.info("training child: %s", error)
                self._stderr_tail.append(text)
                continue
            self.eventReceived.emit(event)

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                self._stderr_tail.append(line.rstrip())

    def _finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read_stdout(to_the_end=True)
        self.paused = False
        crashed = exit_status == QProcess.ExitStatus.CrashExit and not self.stopping
        self.ended.emit(exit_code, crashed)
        self.stopping = False

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.failedToStart.emit(self.error_string())
