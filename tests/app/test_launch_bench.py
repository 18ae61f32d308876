"""``timbrelab bench --family app``: the app is started for real, as a first launch, and reports
its first painted frame, its first sound and its settled memory (no speed is judged)."""

from __future__ import annotations

import json
from pathlib import Path

from synth_core.cli import main

LAUNCH = "app/launch/start → first painted window"
FIRST_SOUND = "app/launch/window → first sound ready"
IDLE = "app/idle/resident memory, settled"


def test_bench_launches_the_app_and_records_launch_first_sound_and_idle_memory(
    tmp_path: Path, capsys
):
    report_path = tmp_path / "app.json"
    assert main(["bench", "--family", "app", "--json", str(report_path)]) == 0
    table = capsys.readouterr().out
    report = json.loads(report_path.read_text(encoding="utf-8"))
    figures = report["figures"]
    assert set(figures) == {LAUNCH, FIRST_SOUND, IDLE}
    assert figures[LAUNCH]["unit"] == "s" and figures[LAUNCH]["better"] == "lower"
    assert figures[FIRST_SOUND]["unit"] == "s" and figures[IDLE]["unit"] == "MiB"
    assert all(figure["value"] > 0 for figure in figures.values())
    # the window paints before torch is imported: the model families load after the first frame
    assert figures[LAUNCH]["detail"]["torch imported by then"] == "no"
    assert "first painted window" in table and "resident memory" in table
