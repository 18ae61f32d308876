"""The Compare panel: train several families on one folder with the same budget and hear them
side by side (``timbrelab compare`` in a child process, :mod:`synth_core.compare`).

The child writes one JSON event a line (``--progress jsonl``); the panel shows the overall
progress with its ETA and a Cancel button (SIGTERM: the family in training stops, the rows
already finished are kept), then the table of scores and, per family, a strip of buttons that
play its generated sounds through the app's player, beside the real clips and the eigen-sounds
baseline. "Open Report" opens the self-contained ``report.html`` in the browser.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PySide6.QtCore import QProcess, QProcessEnvironment, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from synth_core.compare import COMPARE_FILE, REPORT_FILE, read_compare
from synth_core.errors import TimbreLabError
from synth_core.models.base import FAMILY_NAMES
from synth_core.report_html import COLUMNS, cell_text

log = logging.getLogger(__name__)

CHEAP_FAMILIES = ("gmm", "hmm")
"""Ticked at first: they train in seconds, so a first comparison answers at once."""


class ComparePanel(QWidget):
    """Choose families and minutes, run the comparison, read the table and listen."""

    soundChosen = Signal(object, int, str)  # samples, sample rate, title
    statusMessage = Signal(str)
    comparisonLoaded = Signal(str)  # the comparison's folder

    def __init__(self, parent: QWidget | None = None, *, python: str = sys.executable) -> None:
        super().__init__(parent)
        self.python = python
        self.process: QProcess | None = None
        self.out: Path | None = None
        self.data: dict[str, Any] | None = None
        self._buffer = b""
        self._stderr = b""

        self.family_boxes = {name: QCheckBox(name) for name in FAMILY_NAMES}
        for name, box in self.family_boxes.items():
            box.setChecked(name in CHEAP_FAMILIES)
        families = QHBoxLayout()
        for box in self.family_boxes.values():
            families.addWidget(box)
        families.addStretch(1)
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("folder of sounds to train on")
        self.test_edit = QLineEdit()
        self.test_edit.setPlaceholderText("optional: folder to score on (default: held-out clips)")
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("new folder for the runs and the report")
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.05, 600.0)
        self.minutes.setDecimals(2)
        self.minutes.setValue(1.0)
        self.minutes.setSuffix(" min each")
        self.lesson_box = QCheckBox("Lesson (built-in sounds, all seven, under 10 min)")
        self.lesson_box.setToolTip(
            "Up to a minute of training each; on a slow or busy computer each family trains "
            "for less so that the whole lesson, scoring included, ends within ten minutes"
        )
        self.lesson_box.toggled.connect(self._lesson_toggled)

        form = QGridLayout()
        for row, (label, edit) in enumerate(
            (("Sounds", self.data_edit), ("Test", self.test_edit), ("Output", self.out_edit))
        ):
            form.addWidget(QLabel(label), row, 0)
            form.addWidget(edit, row, 1)
            browse = QPushButton("Browse…")
            browse.clicked.connect(lambda _=False, edit=edit: self._browse(edit))
            form.addWidget(browse, row, 2)
        form.addWidget(QLabel("Families"), 3, 0)
        form.addLayout(families, 3, 1, 1, 2)
        form.addWidget(QLabel("Budget"), 4, 0)
        budget = QHBoxLayout()
        budget.addWidget(self.minutes)
        budget.addWidget(self.lesson_box)
        budget.addStretch(1)
        form.addLayout(budget, 4, 1, 1, 2)

        self.run_button = QPushButton("Compare")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.load_button = QPushButton("Open Comparison…")
        self.load_button.clicked.connect(self._choose_comparison)
        self.report_button = QPushButton("Open Report")
        self.report_button.setEnabled(False)
        self.report_button.clicked.connect(self.open_report)
        buttons = QHBoxLayout()
        for button in (self.run_button, self.cancel_button, self.load_button, self.report_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status = QLabel("Choose sounds and families, then Compare.")

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([heading for _, heading, _ in COLUMNS])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.strips = QWidget()
        self.strips_layout = QGridLayout(self.strips)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.strips)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 2)
        layout.addWidget(scroll, 1)

    # -- running ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def families(self) -> list[str]:
        return [name for name, box in self.family_boxes.items() if box.isChecked()]

    def argv(self) -> list[str]:
        """The child's command line for the current choices."""
        out = self.out_edit.text().strip()
        head = [self.python, "-m", "synth_core", "compare"]
        if self.lesson_box.isChecked():
            return [*head, "--lesson", out, "--progress", "jsonl"]
        argv = [*head, self.data_edit.text().strip(), "--families", ",".join(self.families())]
        argv += ["--minutes", f"{self.minutes.value():g}", "--out", out, "--progress", "jsonl"]
        if self.test_edit.text().strip():
            argv += ["--test", self.test_edit.text().strip()]
        return argv

    def start(self) -> None:
        """Start the comparison in a child process, or say what is missing."""
        if self.running:
            return
        missing = self._missing()
        if missing:
            self._say(missing)
            return
        self.out = Path(self.out_edit.text().strip())
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(environment)
        argv = self.argv()
        process.setProgram(argv[0])
        process.setArguments(argv[1:])
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._finished)
        self.process = process
        self._buffer = self._stderr = b""
        self.progress.setValue(0)
        self._set_running(True)
        self._say("Starting…")
        log.info("compare: %s", " ".join(argv))
        process.start()

    def cancel(self) -> None:
        """Stop after the current training step; finished rows stay in the report."""
        if self.running and self.process is not None:
            self._say("Stopping after the current step…")
            self.process.terminate()

    def shutdown(self) -> None:
        """The window is closing: stop the child and wait for it a moment."""
        if self.running and self.process is not None:
            self.process.terminate()
            if not self.process.waitForFinished(5000):
                self.process.kill()

    def _missing(self) -> str:
        if not self.out_edit.text().strip():
            return "Choose an output folder for the comparison."
        if self.lesson_box.isChecked():
            return ""
        if not Path(self.data_edit.text().strip()).is_dir():
            return "Choose a folder of sounds to compare on."
        if not self.families():
            return "Tick at least one family."
        return ""

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.load_button.setEnabled(not running)

    def _read_stdout(self) -> None:
        if self.process is None:
            return
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                log.debug("compare: not an event: %r", line[:200])
                continue
            if isinstance(event, dict):
                self.handle_event(event)

    def _read_stderr(self) -> None:
        if self.process is not None:
            self._stderr = (self._stderr + bytes(self.process.readAllStandardError().data()))[
                -4000:
            ]

    def handle_event(self, event: dict[str, Any]) -> None:
        """Show one event of the child: progress with ETA, a finished row, the end."""
        kind = event.get("event")
        if kind == "family":
            self._say(f"Training {event['family']} ({event['index'] + 1} of {event['of']})…")
        elif kind == "progress":
            self.progress.setValue(int(1000 * float(event.get("fraction") or 0.0)))
            eta = event.get("eta_s")
            left = "" if eta is None else f" — about {_duration(float(eta))} left"
            self._say(f"Training {event['family']}{left}")
        elif kind == "failed":
            self._say(f"{event['family']} failed: {event['message']}")
        elif kind == "scoring":
            self._say(f"Scoring and listening to {event['family']}…")
        elif kind == "done":
            self.progress.setValue(1000)

    def _finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        self._set_running(False)
        out = self.out
        if out is not None and (out / COMPARE_FILE).is_file():
            self.load_comparison(out)
            if exit_code != 0:
                self._say(f"Stopped; {len(self.data['rows']) if self.data else 0} rows kept.")
            return
        tail = self._stderr.decode("utf-8", "replace").strip().splitlines()
        self._say(tail[-1] if tail else f"The comparison stopped (exit code {exit_code}).")

    # -- showing ---------------------------------------------------------------------------

    def load_comparison(self, out: str | Path) -> None:
        """Show the comparison in ``out`` (its ``compare.json``): table and sound strips."""
        try:
            data = read_compare(out)
        except TimbreLabError as error:
            self._say(str(error))
            return
        self.out, self.data = Path(out), data
        rows = [*data["rows"], *([data["baseline"]] if data.get("baseline") else [])]
        self.table.setRowCount(len(rows))
        self.table.setVerticalHeaderLabels([row.get("title", row.get("name", "")) for row in rows])
        for r, row in enumerate(rows):
            for c, (key, _, pattern) in enumerate(COLUMNS):
                self.table.setItem(r, c, QTableWidgetItem(cell_text(row, key, pattern)))
        self._fill_strips(data)
        self.progress.setValue(1000)
        self.report_button.setEnabled((self.out / REPORT_FILE).is_file())
        budget = f"{data['minutes']:g} min" if data.get("minutes") else f"{data['steps']} steps"
        self._say(f"{len(data['rows'])} families, {budget} each — click a sound to hear it.")
        self.comparisonLoaded.emit(str(self.out))

    def _fill_strips(self, data: dict[str, Any]) -> None:
        while self.strips_layout.count():
            item = self.strips_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        strips: list[tuple[str, list[str]]] = []
        if data.get("real"):
            strips.append(("Real clips", data["real"]["sounds"]))
        strips += [(row["title"], row["sounds"]) for row in data["rows"]]
        if data.get("baseline"):
            strips.append((data["baseline"]["name"], data["baseline"]["sounds"]))
        self.sound_buttons: dict[str, list[QPushButton]] = {}
        for r, (title, sounds) in enumerate(strips):
            self.strips_layout.addWidget(QLabel(title), r, 0)
            buttons = []
            for c, relative in enumerate(sounds):
                button = QPushButton(f"▶ {c + 1}")
                button.setToolTip(relative)
                button.clicked.connect(
                    lambda _=False, p=relative, t=title, i=c: self.play(p, f"{t} {i + 1}")
                )
                self.strips_layout.addWidget(button, r, c + 1)
                buttons.append(button)
            self.sound_buttons[title] = buttons

    def play(self, relative: str, title: str) -> None:
        """Hear one sound of a strip through the app's player (and see it in the sound view)."""
        if self.out is None:
            return
        try:
            samples, rate = sf.read(str(self.out / relative), dtype="float32", always_2d=True)
        except (OSError, RuntimeError) as error:
            self._say(f"cannot read {relative}: {error}")
            return
        self.soundChosen.emit(np.ascontiguousarray(samples.mean(axis=1)), int(rate), title)

    def open_report(self) -> None:
        if self.out is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.out / REPORT_FILE)))

    def _choose_comparison(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a comparison folder")
        if folder:
            self.load_comparison(folder)

    def _browse(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
        if folder:
            edit.setText(folder)

    def _lesson_toggled(self, lesson: bool) -> None:
        for widget in (self.data_edit, self.test_edit, self.minutes, *self.family_boxes.values()):
            widget.setEnabled(not lesson)
        if lesson:
            for box in self.family_boxes.values():
                box.setChecked(True)
            self.minutes.setValue(1.0)

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.statusMessage.emit(text)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
