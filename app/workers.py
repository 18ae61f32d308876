"""Work that must not run on the GUI thread, wrapped so that results arrive as Qt signals.

Two shapes cover the app's needs:

* :class:`BackgroundTask` runs one long job (a folder scan) on a ``QThread``, reports progress
  and can be cancelled; the job gets two plain callbacks, so it is a Qt-free core function.
* :class:`LatestOnlyWorker` runs short jobs one after another (load a file, analyse a sound,
  render a slider setting); a newer request replaces one still waiting and the results of
  superseded requests are dropped, so fast clicking or slider dragging never queues up stale work.

Signals are emitted from the worker thread; Qt queues them to receivers in the GUI thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
StopCallback = Callable[[], bool]

# Progress signals are thinned to this interval: a scan of 10 000 files must not queue 10 000
# events on the GUI thread.
PROGRESS_INTERVAL_S = 0.05


class BackgroundTask(QThread):
    """Run ``job(progress, should_stop)`` once on its own thread.

    Parameters
    ----------
    job : callable
        Called as ``job(progress, should_stop)``: ``progress(done, total)`` reports how far it
        got, ``should_stop()`` becomes true after :meth:`cancel`. Its return value is emitted by
        :attr:`succeeded`, an exception it raises by :attr:`failed`.
    parent : QObject or None
        Qt parent.

    Signals
    -------
    progressed(done, total)
        At most every 50 ms, and always for the last item.
    succeeded(result)
        The job returned; ``result`` is whatever it returned (also after a cancel, when the job
        returns a partial result instead of raising).
    failed(error)
        The job raised ``error`` (an ``Exception``).
    """

    progressed = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(object)

    def __init__(
        self, job: Callable[[ProgressCallback, StopCallback], Any], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._job = job
        self._stop = threading.Event()
        self._last_progress = 0.0

    def cancel(self) -> None:
        """Ask the job to stop at its next ``should_stop()`` check."""
        self._stop.set()

    def is_cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._stop.is_set()

    def _report(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progressed.emit(int(done), int(total))

    def run(self) -> None:  # the QThread entry point, on the worker thread
        try:
            result = self._job(self._report, self.is_cancelled)
        except Exception as error:  # handed to the GUI, which shows it
            log.debug("background task failed", exc_info=True)
            self.failed.emit(error)
        else:
            self.succeeded.emit(result)


class LatestOnlyWorker(QObject):
    """A single background thread that always works on the newest request.

    Parameters
    ----------
    name : str
        Thread name, shown in debuggers and logs.
    parent : QObject or None
        Qt parent.

    Signals
    -------
    finished(result)
        The newest request's function returned ``result``.
    failed(error)
        The newest request's function raised ``error``.
    """

    finished = Signal(object)
    failed = Signal(object)
    _done = Signal(int, object, object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self._condition = threading.Condition()
        self._pending: tuple[int, Callable[..., Any], tuple, dict] | None = None
        self._ticket = 0
        self._running_ticket = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._done.connect(self._deliver)

    def submit(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> int:
        """Queue ``function(*args, **kwargs)``, replacing a request that has not started.

        Returns
        -------
        int
            A ticket; only the result of the newest ticket is delivered. 0 after
            :meth:`shutdown`: requests that race a closing window are dropped, not raised.
        """
        with self._condition:
            if self._closed:
                log.debug("%s: request after shutdown dropped", self._name)
                return 0
            self._ticket += 1
            self._pending = (self._ticket, function, args, kwargs)
            if self._thread is None:
                # A daemon thread: the interpreter can always exit, even mid-job.
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._condition.notify()
            return self._ticket

    def is_busy(self) -> bool:
        """True while a request is running or waiting."""
        with self._condition:
            return self._pending is not None or self._running_ticket != 0

    def shutdown(self, timeout_s: float = 2.0) -> None:
        """Drop waiting work, let the running job end, and stop the thread."""
        with self._condition:
            self._closed = True
            self._pending = None
            self._condition.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            with self._condition:
                while self._pending is None and not self._closed:
                    self._condition.wait()
                if self._closed:
                    return
                ticket, function, args, kwargs = self._pending
                self._pending = None
                self._running_ticket = ticket
            result = error = None
            try:
                result = function(*args, **kwargs)
            except Exception as exc:  # delivered to the GUI, which shows it
                log.debug("%s: request %d failed", self._name, ticket, exc_info=True)
                error = exc
            with self._condition:
                self._running_ticket = 0
                closed = self._closed
            if closed:
                continue
            try:
                self._done.emit(ticket, result, error)
            except RuntimeError:  # the QObject was deleted while the job ran
                return

    @Slot(int, object, object)
    def _deliver(self, ticket: int, result: object, error: object) -> None:
        if ticket != self._ticket:
            return  # a newer request exists; its result is the one that matters
        if error is not None:
            self.failed.emit(error)
        else:
            self.finished.emit(result)
