"""The app meets the bad-input corpus: the Sounds panel, the model library and the Explore panel.

The same kinds as ``tests/e2e/test_bad_input_corpus.py`` (``tests/support/bad_inputs.py``), at
the places a person hands them to the app: a folder of sounds opened in the Sounds panel, a
model folder opened from the model library (Studio shows a warning box, never a traceback), a
preset loaded in the Explore panel (refused, the sliders and seed left as they were). Outcomes
go into the same tally printed at the end of the run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app import model_library
from app.panels.dataset import DatasetPanel
from app.panels.explore import ExplorePanel
from synth_core.dataset import printable_name
from synth_core.errors import TimbreLabError
from synth_core.runs import open_model
from tests.app.conftest import WAIT_MS
from tests.support.bad_inputs import (
    LOADED_REFUSED_AT_RENDER,
    NORMALISED,
    PRESET_MODEL,
    REFUSED,
    SKIPPED,
    USED,
    BadInput,
    check,
    of,
    refused_error,
    write_corpus,
)

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="the corpus needs named pipes"),
    pytest.mark.timeout(120),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[BadInput]:
    return write_corpus(tmp_path_factory.mktemp("bad-inputs"))


def test_the_sounds_panel_skips_or_lists_each_bad_audio_file(qtbot, corpus):
    panel = DatasetPanel()
    qtbot.addWidget(panel)
    panel.show()

    def judge(kind: BadInput) -> str:
        with qtbot.waitSignal(panel.folderScanned, timeout=WAIT_MS):
            panel.open_folder(kind.path)
        model = panel.model
        listed = [model.index(row, 0).data() for row in range(model.rowCount())]
        skipped = dict(panel.skipped_model.rows())
        name = kind.bad_file.name
        shown = printable_name(name)  # what the table shows: one line, every byte visible
        if "good.wav" not in listed:
            return f"unexpected: the good file is not listed ({listed})"
        if kind.expected == SKIPPED:
            reason = skipped.get(name, "")
            ok = shown not in listed and kind.words.lower() in reason.lower()
            return SKIPPED if ok else f"unexpected: listed {listed}, skipped {skipped}"
        if skipped:
            return f"unexpected: skipped {skipped}"
        if kind.bad_file.is_dir():
            return USED if listed == ["good.wav"] else f"unexpected: listed {listed}"
        if shown not in listed:
            return f"unexpected: {shown} not listed ({listed})"
        return NORMALISED if kind.expected == NORMALISED else USED

    try:
        check("app: Sounds panel", of(corpus, "audio"), judge)
    finally:
        panel.shutdown()


def test_the_model_library_refuses_each_bad_model_folder(corpus):
    def judge(kind: BadInput) -> str:
        if kind.expected == LOADED_REFUSED_AT_RENDER:
            # the library opens models to play them: a model that renders NaN is refused there
            outcome = refused_error(kind, lambda: model_library.open_model(str(kind.path)))
            return LOADED_REFUSED_AT_RENDER if outcome == REFUSED else outcome
        return refused_error(kind, lambda: model_library.open_model(str(kind.path)))

    check("app: model library", of(corpus, "model"), judge)


def test_opening_a_bad_model_folder_in_the_app_shows_one_warning(
    qtbot, main_window, corpus, monkeypatch
):
    """Studio loads a model off the GUI thread; a bad one ends in a warning box naming it."""
    warnings: list[str] = []
    monkeypatch.setattr(
        QMessageBox, "warning", lambda parent, title, text, *rest: warnings.append(text)
    )
    studio = main_window.studio
    qtbot.waitUntil(lambda: studio.explore.model is not None, timeout=60_000)

    def judge(kind: BadInput) -> str:
        before = (studio.explore.model, len(warnings))
        studio.open_model(str(kind.path))
        try:
            qtbot.waitUntil(lambda: len(warnings) > before[1], timeout=WAIT_MS)
        except AssertionError:
            return "unexpected: no warning (the model was opened)"
        text = warnings[-1]
        if studio.explore.model is not before[0]:
            return "unexpected: the Explore panel switched to the bad model"
        if text.startswith("unexpected error") or "\n" in text:
            return f"unexpected: {text!r:.200}"
        if kind.expected == LOADED_REFUSED_AT_RENDER:
            return LOADED_REFUSED_AT_RENDER
        return REFUSED if kind.words.lower() in text.lower() else f"unexpected: {text!r:.200}"

    check("app: Studio opens a model", of(corpus, "model"), judge)


def test_the_explore_panel_refuses_each_bad_preset_and_keeps_its_sliders(qtbot, corpus):
    panel = ExplorePanel()
    panel.autoplay.setChecked(False)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.soundGenerated, timeout=WAIT_MS):
        panel.set_model(open_model(PRESET_MODEL), PRESET_MODEL)

    def judge(kind: BadInput) -> str:
        before = (dict(panel.values), panel.seed, panel.pitch)
        try:
            panel.load_preset(Path(kind.path))
        except TimbreLabError as error:
            if (dict(panel.values), panel.seed, panel.pitch) != before:
                return "unexpected: the panel changed before refusing"
            text = str(error)
            ok = error.exit_code == 2 and "\n" not in text and kind.words.lower() in text.lower()
            return REFUSED if ok else f"unexpected: {text!r:.200}"
        except Exception as error:  # noqa: BLE001 (the dialog catches only TimbreLabError)
            return f"unexpected: {type(error).__name__}: {error}"
        return "unexpected: loaded"

    try:
        check("app: Explore panel preset", of(corpus, "preset"), judge)
    finally:
        panel.shutdown()
