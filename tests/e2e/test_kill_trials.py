"""Kill trials: a real ``timbrelab train`` is SIGKILLed over and over at random moments (right
after it starts, once it trains, in the middle of its frequent checkpoint writes), and after
every kill the run directory loads and ``--resume`` carries on from what is on disk. Whatever a
kill tore, no temporary file outlives the next resume.

Three run directories are killed in parallel, seven times each; every resumed process is the
victim of the next kill. Prints the counts: kills, kills that left temporary files, loads and
resumes checked.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synth_core import checkpoint

pytestmark = pytest.mark.slow

RATE = 22050
CHAINS = 3
KILLS_PER_CHAIN = 7
# the gmm learns by EM: a step is milliseconds, so a checkpoint every 0.05 s is written almost
# back to back and a random kill often lands inside one
TRAIN_ARGS = ["--family", "gmm", "--set", f"sample_rate={RATE}", "--set", "clip_seconds=0.25"]
EVENT_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sounds")
    t = np.arange(RATE // 4) / RATE
    rng = np.random.default_rng(11)
    for i in range(20):
        note = 48 + i
        f0 = 440 * 2 ** ((note - 69) / 12)
        x = (np.sin(2 * np.pi * f0 * t) + 0.2 * rng.normal(size=t.size)) * np.exp(-t * 9) * 0.5
        sf.write(folder / f"n{i:02d}__p{note:03d}.wav", x.astype(np.float32), RATE)
    return folder


@dataclass
class Tally:
    kills: int = 0
    kills_leaving_temp_files: int = 0
    loads: int = 0
    resumes_started: int = 0
    resumes_checked: int = 0
    finished: int = 0


class Child:
    """A ``timbrelab train --progress jsonl`` process whose events a thread queues as they come."""

    def __init__(self, sounds: Path, run: Path, *extra: str) -> None:
        command = [sys.executable, "-m", "synth_core", "train", str(sounds), "--out", str(run)]
        # a resumed run keeps its settings: only the family is named again
        settings = TRAIN_ARGS[:2] if "--resume" in extra else TRAIN_ARGS
        self.process = subprocess.Popen(
            [*command, *settings, "--progress", "jsonl", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.events: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.events.put(json.loads(line))
        self.events.put(None)

    def wait_for(self, kind: str, count: int = 1) -> list[dict]:
        """Events up to the ``count``-th of ``kind``; all of them if the process ends first."""
        seen = []
        deadline = time.monotonic() + EVENT_TIMEOUT_S
        while sum(e["event"] == kind for e in seen) < count:
            event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            if event is None:
                break
            seen.append(event)
        return seen

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)


def temp_files(run: Path) -> set[str]:
    return {p.name for p in run.iterdir() if p.name.endswith(".part")} if run.is_dir() else set()


def step_on_disk(run: Path) -> int:
    """The step a resume starts from: the weights' own, as ``Trainer.restore`` reads it."""
    _, step = checkpoint.read_weights(run)
    return checkpoint.read_record(run).step if step is None else step


def kill_chain(sounds: Path, run: Path, seed: int, tally: Tally, lock: threading.Lock) -> None:
    rng = random.Random(seed)
    for _ in range(KILLS_PER_CHAIN):
        resume = (run / checkpoint.MODEL_FILE).exists()
        resumed_from = step_on_disk(run) if resume else None
        stale = temp_files(run)  # what the previous kill left behind
        child = Child(sounds, run, "--steps", "1000000", "--checkpoint-every", "0.05",
                      *(["--resume"] if resume else []))  # fmt: skip
        moment = rng.choices(["at start", "while training", "while checkpointing"], [1, 1, 2])[0]
        if moment == "at start":
            time.sleep(rng.uniform(0.0, 1.5))
            seen = []
        elif moment == "while training":
            seen = child.wait_for("progress")
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            # a checkpoint event comes as a write ends; aim the kill into the last few tens of
            # milliseconds before the next one, while its temporary files are being written
            seen = child.wait_for("checkpoint", 1)
            first = time.monotonic()
            seen += child.wait_for("checkpoint", 1)
            interval = time.monotonic() - first
            time.sleep(max(0.0, interval - rng.uniform(0.0, 0.03)))
        started = next((e for e in seen if e["event"] == "start"), None)
        if started is not None and resume:
            # "start" comes after the trainer has restored the run, temporary files cleaned
            assert started["resumed_from"] == resumed_from
            assert not stale & temp_files(run), f"a resume kept {stale & temp_files(run)}"
        child.kill()
        assert child.process.returncode == -signal.SIGKILL, f"it ended before its kill: {seen}"
        loaded = (run / checkpoint.MODEL_FILE).exists()
        if loaded:
            checkpoint.read_model(run)  # whatever the kill tore, the run directory loads
        with lock:
            tally.kills += 1
            tally.kills_leaving_temp_files += bool(temp_files(run))
            tally.loads += loaded
            tally.resumes_started += resume
            tally.resumes_checked += started is not None and resume

    # the last resume runs to its end: a few more steps, a final checkpoint, nothing left over
    target = step_on_disk(run) + 2
    child = Child(sounds, run, "--resume", "--steps", str(target))
    events = child.wait_for("done")
    assert child.process.wait(EVENT_TIMEOUT_S) == 0
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    assert events[-1]["step"] == target == checkpoint.read_record(run).step
    assert temp_files(run) == set()
    steps = [e["step"] for e in checkpoint.read_history(run)]
    assert steps == sorted(set(steps)), "history must not repeat steps after resumes"
    with lock:
        tally.finished += 1


def test_training_survives_repeated_sigkills_and_resumes_from_whatever_is_on_disk(
    sounds, tmp_path, monkeypatch
):
    for name in ("CACHE", "CONFIG", "DATA"):  # the children's user folders, not the real ones
        monkeypatch.setenv(f"TIMBRELAB_{name}_DIR", str(tmp_path / name.lower()))
    tally = Tally()
    lock = threading.Lock()
    failures: list[BaseException] = []

    def chain(index: int) -> None:
        try:
            kill_chain(sounds, tmp_path / f"run{index}", 1000 + index, tally, lock)
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    started = time.monotonic()
    threads = [threading.Thread(target=chain, args=(i,)) for i in range(CHAINS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(
        f"\nkill trials: {tally.kills} SIGKILLs ({tally.kills_leaving_temp_files} left temporary "
        f"files), {tally.loads} loads after a kill, {tally.resumes_checked} of "
        f"{tally.resumes_started} resumes seen starting from the step on disk, "
        f"{tally.finished} of {CHAINS} runs resumed to the end; {time.monotonic() - started:.0f} s"
    )
    if failures:
        raise failures[0]
    assert tally.kills == CHAINS * KILLS_PER_CHAIN >= 20
    assert tally.finished == CHAINS
    assert tally.resumes_checked >= 1
