"""The training panel's child process reader: what is not an event is kept for the crash details
and never stops the reading."""

from __future__ import annotations

import sys

from app.panels.training_process import TrainingProcess
from synth_core.progress import CheckpointEvent, DoneEvent, encode

CHECKPOINT = CheckpointEvent(step=2, path="/runs/r")
DONE = DoneEvent(run="/runs/r", step=2, elapsed_s=0.5, stopped=False, metrics={"loss": 0.25})

# A child that mixes stray prints, a cut-off event, an unknown event and a badly typed one with
# two real events, writes to stderr, leaves its last line unterminated and exits 3.
CHILD = f"""
import sys
print("loading torch...")
print({encode(CHECKPOINT)!r}, flush=True)
print('{{"event": "progress", "step": 3')
print('{{"event": "paused", "step": 3}}')
print('{{"event": "checkpoint", "step": "three", "path": "/runs/r"}}')
print("[1, 2, 3]")
sys.stderr.write("a warning on stderr\\n")
sys.stdout.write({encode(DONE)!r})
sys.exit(3)
"""


def test_lines_that_are_not_events_go_to_the_tail_and_the_events_still_arrive(qtbot):
    runner = TrainingProcess()
    events, ended = [], []
    runner.eventReceived.connect(events.append)
    runner.ended.connect(lambda code, crashed: ended.append((code, crashed)))
    runner.start([sys.executable, "-c", CHILD])
    qtbot.waitUntil(lambda: bool(ended), timeout=30_000)

    assert events == [CHECKPOINT, DONE]
    assert ended == [(3, False)]
    tail = runner.stderr_tail().splitlines()
    for line in [
        "loading torch...",
        '{"event": "progress", "step": 3',
        '{"event": "paused", "step": 3}',
        '{"event": "checkpoint", "step": "three", "path": "/runs/r"}',
        "[1, 2, 3]",
        "a warning on stderr",
    ]:
        assert line in tail
    assert not runner.is_running()


def test_an_interpreter_that_is_not_there_is_reported_not_raised(qtbot, tmp_path):
    runner = TrainingProcess()
    reasons = []
    runner.failedToStart.connect(reasons.append)
    runner.start([str(tmp_path / "no-python"), "-c", "pass"])
    qtbot.waitUntil(lambda: bool(reasons), timeout=10_000)
    assert reasons[0]
    assert not runner.is_running()
    runner.stop()  # nothing to stop: a no-op
    runner.set_paused(True)
    assert not runner.paused
