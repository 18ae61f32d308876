"""The training process's JSON-lines events, as the trainer writes them and the app reads them:
every event survives the trip, a line that is not an event is refused with a reason (never a
crash), and the child's command line is one the real ``timbrelab train`` parser accepts."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from synth_core import cli
from synth_core.errors import ModelConfigError, TimbreLabError
from synth_core.progress import (
    EVENT_TYPES,
    CheckpointEvent,
    DoneEvent,
    ErrorEvent,
    EventLineError,
    PreviewEvent,
    ProgressEvent,
    StartEvent,
    WarningEvent,
    decode,
    encode,
    train_argv,
)

ONE_OF_EACH = [
    StartEvent(
        run="/runs/vae-1", family="vae", device="cpu", clips=9, held_out=1, total=None,
        resumed_from=120,
    ),
    ProgressEvent(
        step=7, total=400, fraction=0.0175, elapsed_s=2.25, eta_s=None,
        losses={"recon": 0.5, "kl": 1e-6}, lr=0.001, device="cuda:0",
    ),
    PreviewEvent(step=50, path="/runs/vae-1/preview.wav", sample_rate=44100),
    CheckpointEvent(step=60, path="/runs/vae-1"),
    WarningEvent(step=61, message="non-finite loss {'recon': nan}; rolled back 11 step(s)"),
    DoneEvent(run="/runs/vae-1", step=400, elapsed_s=95.5, stopped=True, metrics={}),
    ErrorEvent(message="disk full while writing the checkpoint to /runs/vae-1; …"),
]  # fmt: skip


def test_the_examples_cover_every_event_the_schema_has():
    assert sorted(type(event).KIND for event in ONE_OF_EACH) == sorted(EVENT_TYPES)


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda event: event.KIND)
def test_every_event_survives_encoding_and_decoding(event):
    line = encode(event)
    assert "\n" not in line
    assert json.loads(line)["event"] == event.KIND
    assert decode(line) == event
    assert decode(line.encode() + b"\n") == event  # as read from the pipe


def test_a_non_finite_loss_and_a_whole_number_for_a_float_come_back_as_floats():
    line = encode(dataclasses.replace(ONE_OF_EACH[1], losses={"recon": math.inf}))
    assert decode(line).losses == {"recon": math.inf}
    raw = json.loads(line) | {"fraction": 1, "elapsed_s": 3}
    event = decode(json.dumps(raw))
    assert (event.fraction, event.elapsed_s) == (1.0, 3.0)
    assert isinstance(event.fraction, float)


def test_fields_a_newer_trainer_adds_are_ignored():
    raw = json.loads(encode(ONE_OF_EACH[3])) | {"bytes": 1234}
    assert decode(json.dumps(raw)) == ONE_OF_EACH[3]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("step 3 of 10", "not JSON"),
        ('{"event": "progress", "step": 3', "not JSON"),  # a write cut off mid-line
        ("[1, 2]", "a JSON list, not an object"),
        ('"done"', "a JSON str, not an object"),
        ('{"step": 3}', "unknown event None"),
        ('{"event": "paused", "step": 3}', "unknown event 'paused'"),
        ('{"event": 7}', "unknown event 7"),
        ('{"event": "checkpoint", "step": 3}', "'checkpoint' without 'path'"),
        ('{"event": "checkpoint", "step": "3", "path": "r"}', "'checkpoint' field 'step'"),
        ('{"event": "checkpoint", "step": 3.5, "path": "r"}', "'checkpoint' field 'step'"),
        ('{"event": "done", "run": "r", "step": 1, "elapsed_s": 1, "stopped": 1, "metrics": {}}',
         "'done' field 'stopped'"),
        ('{"event": "done", "run": "r", "step": 1, "elapsed_s": 1, "stopped": true, '
         '"metrics": {"a": "low"}}', "'done' field 'metrics'"),
        ('{"event": "warning", "step": true, "message": "m"}', "'warning' field 'step'"),
        ("[" * 100_000, "not JSON"),  # nested beyond the parser's recursion limit
    ],
)  # fmt: skip
def test_a_line_that_is_not_an_event_is_refused_with_the_reason(line, reason):
    with pytest.raises(EventLineError) as refused:
        decode(line)
    assert reason in str(refused.value)
    assert refused.value.line == line
    assert isinstance(refused.value, TimbreLabError) and refused.value.exit_code == 1


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_any_line_at_all_decodes_or_is_refused_and_nothing_else(line):
    with contextlib.suppress(EventLineError):
        decode(line)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(ONE_OF_EACH),
    st.data(),
)
def test_a_real_event_with_one_field_replaced_by_any_json_value_never_crashes(event, data):
    raw = json.loads(encode(event))
    name = data.draw(st.sampled_from(sorted(raw)))
    raw[name] = data.draw(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=3), inner, max_size=3)
            ),
            max_leaves=6,
        )
    )
    try:
        decoded = decode(json.dumps(raw))
    except EventLineError:
        return
    assert isinstance(decoded, EVENT_TYPES[raw["event"]])


def write_tones(folder: Path, count: int, rate: int = 16000) -> None:
    folder.mkdir(parents=True)
    t = np.arange(int(0.3 * rate)) / rate
    for i in range(count):
        note = 50 + i
        x = 0.4 * np.sin(2 * np.pi * 440 * 2 ** ((note - 69) / 12) * t) * np.exp(-t * 6)
        sf.write(folder / f"t{i:02d}__p{note:03d}.wav", x.astype(np.float32), rate)


def test_what_timbrelab_train_writes_decodes_line_by_line(tmp_path, capsys):
    write_tones(tmp_path / "sounds", 12)
    argv = train_argv(
        tmp_path / "sounds", "gmm", tmp_path / "run", steps=3,
        settings=["sample_rate=16000", "clip_seconds=0.25"],
    )  # fmt: skip
    assert argv[1:4] == ["-m", "synth_core.cli", "train"]
    assert cli.main(argv[3:]) == 0
    events = [decode(line) for line in capsys.readouterr().out.splitlines()]
    assert isinstance(events[0], StartEvent) and isinstance(events[-1], DoneEvent)
    start, done = events[0], events[-1]
    assert (start.family, start.clips + start.held_out, start.total) == ("gmm", 12, 3)
    assert (done.step, done.stopped, done.run) == (3, False, str(tmp_path / "run"))
    progress = [e for e in events if isinstance(e, ProgressEvent)]
    assert [e.step for e in progress][:3] == [1, 2, 3] and progress[-1].fraction == 1.0
    assert any(isinstance(e, CheckpointEvent) and e.step == 3 for e in events)


def test_a_failed_run_ends_with_an_error_event(tmp_path, capsys):
    out = tmp_path / "run"
    out.write_text("a file, not a folder")
    write_tones(tmp_path / "sounds", 2)
    assert cli.main(train_argv(tmp_path / "sounds", "gmm", out, steps=1)[3:]) == 2
    last = decode(capsys.readouterr().out.splitlines()[-1])
    assert isinstance(last, ErrorEvent) and "not a folder" in last.message


def test_the_child_argv_is_what_the_train_command_parses(tmp_path):
    argv = train_argv(
        tmp_path / "my sounds", "vae", tmp_path / "runs" / "vae-1", steps=400, minutes=2.5,
        device="cuda:1", preset="quick", settings=["latent_dim=16", "name=a b"],
        python="/usr/bin/python3",
    )  # fmt: skip
    assert argv[:4] == ["/usr/bin/python3", "-m", "synth_core.cli", "train"]
    args = cli.build_parser().parse_args(argv[3:])
    assert (args.command, args.data, args.family) == ("train", str(tmp_path / "my sounds"), "vae")
    assert (args.out, args.progress, args.resume) == (
        str(tmp_path / "runs" / "vae-1"),
        "jsonl",
        False,
    )
    assert (args.steps, args.max_minutes, args.device) == (400, 2.5, "cuda:1")
    assert (args.preset, args.set) == ("quick", ["latent_dim=16", "name=a b"])


def test_a_resumed_run_keeps_its_config_and_minutes_are_passed_exactly(tmp_path):
    argv = train_argv("d", "gmm", "r", resume=True, minutes=1 / 3)
    args = cli.build_parser().parse_args(argv[3:])
    assert args.resume and args.preset is None and args.set == []
    assert args.max_minutes == 1 / 3 and args.steps is None
    assert train_argv("d", "gmm", "r", minutes=2.0)[-2:] == ["--max-minutes", "2"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 0}, "steps must be at least 1"),
        ({"minutes": 0.0}, "minutes must be a positive number"),
        ({"minutes": math.nan}, "minutes must be a positive number"),
        ({"resume": True, "preset": "quick"}, "cannot change a run being resumed"),
        ({"resume": True, "settings": ["latent_dim=8"]}, "cannot change a run being resumed"),
    ],
)
def test_an_argv_the_command_would_refuse_is_refused_before_the_child_starts(options, message):
    with pytest.raises(ModelConfigError, match=message):
        train_argv("d", "vae", "r", **options)
