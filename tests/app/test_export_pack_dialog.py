"""A sound designer exports the current sound as a sample pack from the export dialog."""

from __future__ import annotations

import re

from app.dialogs.export import ExportDialog
from synth_core.export import read_recipe
from synth_core.runs import open_model

WAIT_MS = 60_000


def make_dialog(qtbot, folder) -> ExportDialog:
    dialog = ExportDialog(
        open_model("physical:tube"),
        model_id="physical:tube",
        values={"pressure": 0.8, "hold": 0.8},
        seed=5,
        folder=folder,
    )
    qtbot.addWidget(dialog)
    dialog.select(dialog.kind_box, "pack")
    dialog.keys_edit.setText("55:67:6")
    dialog.layers_box.setValue(2)
    return dialog


def test_the_dialog_writes_a_pack_of_the_current_sound_and_asks_before_replacing_it(
    qtbot, tmp_path
):
    dialog = make_dialog(qtbot, tmp_path)
    assert not dialog.count_box.isEnabled() and dialog.keys_edit.isEnabled()
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=WAIT_MS)
    sfz = tmp_path / "physical-tube.sfz"
    assert dialog.result.sfz == sfz and len(dialog.result.samples) == 3 * 2
    assert "Wrote physical-tube.sfz with 6 sample(s)" in dialog.message.text()
    text = sfz.read_text()
    assert re.findall(r"pitch_keycenter=(\d+)", text).count("61") == 2
    assert text.count("loop_mode=loop_continuous") == 6
    top = read_recipe(tmp_path / "physical-tube_p61_v002.wav")
    assert (top.controls["pressure"], top.controls["hold"], top.seed) == (0.8, 0.8, 5)

    again = make_dialog(qtbot, tmp_path)
    asked = []
    again.ask_to_replace_pack = lambda folder, clashes: asked.append(len(clashes)) or False
    before = sfz.stat().st_mtime_ns
    again.start()
    assert asked == [1 + 6 * 2] and again.task is None
    assert "already there" in again.message.text() and sfz.stat().st_mtime_ns == before


def test_a_bad_key_range_is_reported_in_the_dialog(qtbot, tmp_path):
    dialog = make_dialog(qtbot, tmp_path)
    dialog.keys_edit.setText("C3 to C5")
    dialog.start()
    assert "START:STOP:STEP" in dialog.message.text() and dialog.task is None
