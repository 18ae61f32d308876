"""When the machine fails under a run: a disk that fills up, memory that runs out, temporary files
a kill left behind, a umask the checkpoint must honour.

A full disk is simulated in-process, without root or a tiny file system: ``os.fdopen`` (what
every atomic writer opens its temporary file with) is replaced by one whose files stop taking
bytes with ``ENOSPC`` once the disk has "filled", exactly what the kernel does.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from synth_core import checkpoint, errors
from synth_core.cli import main
from synth_core.models.gmm import GMMConfig, GMMModel

RATE = 22050
# the gmm learns by EM in milliseconds a step: these tests spend their time on the faults
TINY = GMMConfig(sample_rate=RATE, clip_seconds=0.25)
TRAIN_ARGS = ["--family", "gmm", "--set", f"sample_rate={RATE}", "--set", "clip_seconds=0.25"]
# a checkpoint after every step, so the disk fills at a known checkpoint
EVERY_STEP = ["--checkpoint-every", "0.001"]


class FillingDisk:
    """A disk with room for ``files_fit`` more files written through ``os.fdopen``.

    The next file takes half of what is written to it and then fails with ``ENOSPC``, as does
    every file after it; reading is unaffected. ``free()`` makes room again.
    """

    def __init__(self, files_fit: int) -> None:
        self.files_fit = files_fit
        self.failed = 0
        self._fdopen = os.fdopen

    def fdopen(self, fd: int, mode: str = "r", *args, **kwargs):
        handle = self._fdopen(fd, mode, *args, **kwargs)
        if not any(flag in mode for flag in "wax+"):
            return handle
        if self.files_fit > 0:
            self.files_fit -= 1
            return handle
        return _FileOnFullDisk(handle, self)

    def free(self) -> None:
        self.files_fit = 10**9


class _FileOnFullDisk:
    def __init__(self, handle, disk: FillingDisk) -> None:
        self._handle = handle
        self._disk = disk

    def write(self, data) -> int:
        self._handle.write(data[: len(data) // 2])
        self._disk.failed += 1
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._handle.close()


@pytest.fixture
def filling_disk(monkeypatch: pytest.MonkeyPatch):
    """``filling_disk(files_fit)`` fills the disk after that many more files."""

    def install(files_fit: int) -> FillingDisk:
        disk = FillingDisk(files_fit)
        monkeypatch.setattr(os, "fdopen", disk.fdopen)
        return disk

    return install


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sounds")
    t = np.arange(RATE // 4) / RATE
    rng = np.random.default_rng(5)
    for i in range(20):  # more training sounds than the gmm's 16 principal axes
        note = 48 + i
        f0 = 440 * 2 ** ((note - 69) / 12)
        x = (np.sin(2 * np.pi * f0 * t) + 0.2 * rng.normal(size=t.size)) * np.exp(-t * 9) * 0.5
        sf.write(folder / f"n{i:02d}__p{note:03d}.wav", x.astype(np.float32), RATE)
    return folder


def tiny_model() -> GMMModel:
    return GMMModel.from_config(TINY)


def temp_files(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir() if p.name.endswith(".part"))


def train(sounds: Path, run: Path, *extra: str) -> int:
    return main(["train", str(sounds), "--out", str(run), *TRAIN_ARGS[:2], *extra])


def test_a_full_disk_while_checkpointing_keeps_the_previous_checkpoint_whole(
    tmp_path, filling_disk
):
    model = tiny_model()
    run = tmp_path / "run"
    record = checkpoint.RunRecord("gmm", TINY.to_dict(), RATE, step=1)
    optimizer = {"trainer.marker": torch.zeros(3)}
    checkpoint.write_checkpoint(run, record, model.state(), optimizer)
    before = {name: (run / name).read_bytes() for name in os.listdir(run)}

    filling_disk(1)  # the new optimizer state fits, the new weights do not
    record.step = 2
    with pytest.raises(errors.DiskFullError) as raised:
        checkpoint.write_checkpoint(run, record, model.state(), {"trainer.marker": torch.ones(3)})

    error = raised.value
    assert error.exit_code == 1
    assert str(error).startswith(f"disk full while writing {run / checkpoint.WEIGHTS_FILE}; ")
    # every file of step 1 is as it was, the optimiser state included: a resume is consistent
    assert {name: (run / name).read_bytes() for name in os.listdir(run)} == before
    assert checkpoint.read_optimizer(run)[1] == checkpoint.read_weights(run)[1] == 1
    assert temp_files(run) == []
    checkpoint.read_model(run)


def test_training_that_fills_the_disk_stops_with_one_line_and_keeps_its_last_checkpoint(
    sounds, tmp_path, filling_disk, capsys
):
    run = tmp_path / "run"
    disk = filling_disk(3)  # the checkpoint of step 1 fits (three files), the next does not
    code = train(sounds, run, *TRAIN_ARGS[2:], "--steps", "6", *EVERY_STEP, "--progress", "jsonl")
    out, err = capsys.readouterr()

    assert code == 1 and disk.failed >= 1, err
    kept = checkpoint.read_record(run).step
    expected = (
        f"disk full while writing the checkpoint to {run}; "
        f"the last good checkpoint (step {kept}) is kept"
    )
    assert kept >= 1  # the step a checkpoint fitted at, which the message names
    assert err.startswith(f"timbrelab train: {expected}"), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    last = json.loads(out.splitlines()[-1])
    assert last["event"] == "error" and last["message"].startswith(expected)
    assert temp_files(run) == []
    assert checkpoint.read_model(run) is not None

    disk.free()  # with room again, the run continues from that checkpoint
    assert train(sounds, run, "--resume", "--steps", str(kept + 2), "--progress", "none") == 0
    assert checkpoint.read_record(run).step == kept + 2


def test_a_disk_full_before_the_first_checkpoint_says_none_was_written(
    sounds, tmp_path, filling_disk, capsys
):
    run = tmp_path / "run"
    filling_disk(0)
    assert train(sounds, run, *TRAIN_ARGS[2:], "--steps", "3", "--progress", "none") == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"timbrelab train: disk full while writing the checkpoint to {run}; "
        "no checkpoint was written yet"
    ), err
    assert not (run / checkpoint.MODEL_FILE).exists() and temp_files(run) == []


def test_a_resumed_run_that_fills_the_disk_stops_cleanly_too(
    sounds, tmp_path, filling_disk, capsys
):
    run = tmp_path / "run"
    assert train(sounds, run, *TRAIN_ARGS[2:], "--steps", "2", "--progress", "none") == 0
    capsys.readouterr()

    filling_disk(1)  # resuming rewrites history.jsonl; then the first new checkpoint fails
    code = train(sounds, run, "--resume", "--steps", "6", *EVERY_STEP, "--progress", "none")
    err = capsys.readouterr().err

    assert code == 1
    assert err.startswith(
        f"timbrelab train: disk full while writing the checkpoint to {run}; "
        "the last good checkpoint (step 2) is kept"
    ), err
    assert "Traceback" not in err
    assert checkpoint.read_record(run).step == 2
    assert checkpoint.read_optimizer(run)[1] == checkpoint.read_weights(run)[1] == 2
    assert temp_files(run) == []


def test_any_command_on_a_full_disk_names_the_place_and_exits_1(tmp_path, monkeypatch, capsys):
    out = tmp_path / "full" / "sounds"
    real_mkdir = Path.mkdir

    def mkdir_on_full_disk(self: Path, *args, **kwargs) -> None:
        if tmp_path / "full" in (self, *self.parents):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir_on_full_disk)
    code = main(["generate", "physical:string", "--n", "1", "--out", str(out)])
    err = capsys.readouterr().err

    assert code == 1
    assert err.startswith(f"timbrelab generate: disk full while writing {out}; free some space")
    assert "System error" not in err and "Traceback" not in err


def test_running_out_of_memory_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    from synth_core import runs

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(runs, "open_model", exhausted)
    code = main(["generate", "physical:string", "--out", str(tmp_path / "g")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("timbrelab generate: out of memory; ")
    assert "Traceback" not in err


def test_system_failures_are_worded_with_the_file_and_a_machine_exit_code():
    quota = errors.from_system_error(
        OSError(errno.EDQUOT, "Disk quota exceeded", "/runs/a/model.json")
    )
    assert str(quota).startswith("disk quota exceeded while writing /runs/a/model.json; ")
    denied = errors.from_system_error(PermissionError(errno.EACCES, "Permission denied", "/runs/b"))
    assert str(denied) == "/runs/b: Permission denied" and denied.exit_code == 1
    # a full disk under an error raised on purpose is still a full disk, and not bad input
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise errors.AudioFileError("cannot write the sidecar", path="/x/0000.json") from None
    except errors.AudioFileError as wrapped:
        full = errors.from_system_error(wrapped)
    assert isinstance(full, errors.DiskFullError) and str(full).startswith(
        "disk full while writing /x/0000.json; "
    )
    assert errors.from_system_error(ValueError("a bug")) is None


def test_temporary_files_of_a_killed_run_are_removed_on_resume_and_on_the_next_save(
    sounds, tmp_path, capsys
):
    run = tmp_path / "run"
    assert train(sounds, run, *TRAIN_ARGS[2:], "--steps", "2", "--progress", "none") == 0
    leftovers = [
        ".weights.safetensors.k2j4_x9q.part",
        ".optimizer.safetensors.a8b7c6d5.part",
        ".model.json.zz01.part",
        ".history.jsonl.q1.part",
        ".preview.w3e4r5.part",
    ]
    mine = ["notes.part", ".hidden.part", "take.weights.safetensors.part"]  # not the run's own
    for name in leftovers + mine:
        (run / name).write_bytes(b"\0" * 1000)

    assert train(sounds, run, "--resume", "--steps", "3", "--progress", "none") == 0
    assert temp_files(run) == sorted(mine)

    for name in leftovers:
        (run / name).write_bytes(b"\0" * 1000)
    checkpoint.save_model(run, tiny_model(), step=3)
    assert temp_files(run) == sorted(mine)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_checkpoint_files_get_the_permissions_the_umask_gives(tmp_path, umask):
    previous = os.umask(umask)
    try:
        run = checkpoint.save_model(tmp_path / "run", tiny_model(), step=1)
    finally:
        os.umask(previous)
    for name in (checkpoint.MODEL_FILE, checkpoint.WEIGHTS_FILE):
        assert stat.S_IMODE((run / name).stat().st_mode) == 0o666 & ~umask, name


def test_help_says_what_each_exit_code_means(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "exit codes:" in text
    assert "1    the machine failed, not the input: disk full, out of memory" in text
    assert "2    usage or bad input" in text
