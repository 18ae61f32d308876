"""The export dialog (Ctrl+E): write the current sound, or a batch of variations around it.

Choices map one to one onto :class:`synth_core.export.ExportSettings`; the writing itself is
:func:`synth_core.export.export_batch`, run on a :class:`~app.workers.BackgroundTask` so the
progress bar moves and Cancel stops between two files (files already written are kept). When
files of the batch are already in the folder, the dialog asks first: replace them, or keep both
(the new files get numbered names). "Sample pack (SFZ)" writes the current sound across a key
range instead, with :func:`synth_core.packs.export_pack`; a pack already in the folder is only
replaced when the user says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.workers import BackgroundTask
from synth_core.errors import TimbreLabError
from synth_core.export import (
    BatchResult,
    ExportSettings,
    batch_paths,
    check_pattern,
    existing_files,
    export_batch,
)
from synth_core.models.base import SoundModel
from synth_core.packs import MAX_LAYERS, PackResult, export_pack, pack_files, parse_pitches

log = logging.getLogger(__name__)

_FORMATS = (("WAV", "wav"), ("FLAC", "flac"), ("OGG Vorbis", "ogg"))
_DEPTHS = (("16-bit", "16"), ("24-bit", "24"), ("32-bit float", "32f"))
_RATES = (("44.1 kHz", 44100), ("48 kHz", 48000), ("96 kHz", 96000))
_NORMALISE = (("Peak", "peak"), ("Loudness (LUFS)", "lufs"), ("None", "none"))
_KINDS = (("Sounds", "sounds"), ("Sample pack (SFZ)", "pack"))


class ExportDialog(QDialog):
    """Export the current sound of ``model`` and ``n`` variations around it.

    Parameters
    ----------
    model : SoundModel
    model_id : str
        Recorded in each sidecar (run directory, starter name or ``physical:INSTRUMENT``).
    values : mapping
        The current slider values (the centre of the batch).
    seed : int
        Seed of the current sound; variation ``i`` uses ``seed + i - 1``.
    pitch : float or None
        MIDI pitch for pitch-conditioned models.
    folder : path, optional
        Where to write by default.
    """

    def __init__(
        self,
        model: SoundModel,
        *,
        model_id: str,
        values: Mapping[str, float],
        seed: int,
        pitch: float | None = None,
        folder: str | Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export sounds")
        self.model = model
        self.model_id = model_id
        self.values = dict(values)
        self.seed = seed
        self.pitch = pitch
        self.task: BackgroundTask | None = None
        self.result: BatchResult | PackResult | None = None

        self.folder_edit = QLineEdit(str(folder or Path.home() / "Timbre Lab exports"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)

        self.pattern_edit = QLineEdit(ExportSettings().pattern)
        self.pattern_edit.setToolTip("Tokens: {model} {seed} {n} {pitch}; the extension is added")
        self.format_box = _combo(_FORMATS, "wav")
        self.depth_box = _combo(_DEPTHS, "24")
        self.rate_box = _combo(_RATES, 48000)
        self.normalise_box = _combo(_NORMALISE, "peak")
        self.peak_box = QDoubleSpinBox()
        self.peak_box.setRange(-60.0, 0.0)
        self.peak_box.setValue(-1.0)
        self.peak_box.setSuffix(" dBFS")
        self.lufs_box = QDoubleSpinBox()
        self.lufs_box.setRange(-60.0, 0.0)
        self.lufs_box.setValue(-16.0)
        self.lufs_box.setSuffix(" LUFS")
        self.fade_box = QDoubleSpinBox()
        self.fade_box.setRange(0.0, 10000.0)
        self.fade_box.setValue(20.0)
        self.fade_box.setSuffix(" ms")
        self.count_box = QSpinBox()
        self.count_box.setRange(1, 1000)
        self.count_box.setValue(1)
        self.count_box.setToolTip("1 writes the current sound; more adds variations around it")
        self.spread_box = QDoubleSpinBox()
        self.spread_box.setRange(0.0, 1.0)
        self.spread_box.setSingleStep(0.05)
        self.spread_box.setValue(0.1)
        self.spread_box.setToolTip(
            "How far variations stray from the current sound, as a fraction of each slider's travel"
        )

        self.kind_box = _combo(_KINDS, "sounds")
        self.kind_box.setToolTip(
            "A sample pack renders the current sound at each key of a range, with an SFZ "
            "instrument that samplers load"
        )
        self.keys_edit = QLineEdit("36:84:3")
        self.keys_edit.setToolTip("MIDI notes to sample as START:STOP:STEP (stop included)")
        self.layers_box = QSpinBox()
        self.layers_box.setRange(1, MAX_LAYERS)
        self.layers_box.setValue(1)
        self.layers_box.setToolTip(
            "Velocity layers: rendered with the model's loudness control where it has one, "
            "else the same sample at lower volumes"
        )

        form = QFormLayout()
        form.addRow("Export", self.kind_box)
        form.addRow("Folder", folder_row)
        form.addRow("File names", self.pattern_edit)
        form.addRow("Format", self.format_box)
        form.addRow("Bit depth", self.depth_box)
        form.addRow("Sample rate", self.rate_box)
        form.addRow("Normalise", self.normalise_box)
        form.addRow("Peak target", self.peak_box)
        form.addRow("Loudness target", self.lufs_box)
        form.addRow("Fade-out", self.fade_box)
        form.addRow("Sounds", self.count_box)
        form.addRow("Variation spread", self.spread_box)
        form.addRow("Keys", self.keys_edit)
        form.addRow("Velocity layers", self.layers_box)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton(
            "Export", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.setDefault(True)
        self.buttons.accepted.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Model: {model_id} ({model.family})"))
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.format_box.currentIndexChanged.connect(self._update_enabled)
        self.normalise_box.currentIndexChanged.connect(self._update_enabled)
        self.count_box.valueChanged.connect(self._update_enabled)
        self.kind_box.currentIndexChanged.connect(self._update_enabled)
        self._update_enabled()

    def settings(self) -> ExportSettings:
        """The choices as export settings (validated)."""
        settings = ExportSettings(
            format=self.format_box.currentData(),
            bit_depth=self.depth_box.currentData(),
            sample_rate=int(self.rate_box.currentData()),
            normalise=self.normalise_box.currentData(),
            peak_dbfs=self.peak_box.value(),
            lufs=self.lufs_box.value(),
            fade_out_s=self.fade_box.value() / 1000.0,
            pattern=self.pattern_edit.text().strip(),
        )
        settings.validate()
        return settings

    def select(self, combo: QComboBox, data: object) -> None:
        """Choose the entry of ``combo`` whose data is ``data``."""
        combo.setCurrentIndex(combo.findData(data))

    def _update_enabled(self) -> None:
        running = self.task is not None and self.task.isRunning()
        fmt = self.format_box.currentData()
        self.depth_box.setEnabled(fmt != "ogg" and not running)
        mode = self.normalise_box.currentData()
        self.lufs_box.setEnabled(mode == "lufs")
        self.peak_box.setEnabled(mode != "none")
        pack = self.kind_box.currentData() == "pack"
        self.spread_box.setEnabled(self.count_box.value() > 1 and not pack)
        for box in (self.count_box, self.pattern_edit, self.normalise_box):
            box.setEnabled(not pack)
        self.keys_edit.setEnabled(pack)
        self.layers_box.setEnabled(pack)
        self.export_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.close_button.setEnabled(not running)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def start(self) -> None:
        """Write the files on a background thread."""
        if self.task is not None and self.task.isRunning():
            return
        folder = Path(self.folder_edit.text()).expanduser()
        if self.kind_box.currentData() == "pack":
            self.start_pack(folder)
            return
        count = self.count_box.value()
        spread = self.spread_box.value()
        try:
            settings = self.settings()
            check_pattern(settings.pattern)
            planned = batch_paths(
                folder,
                model_id=self.model_id,
                n=count,
                seed=self.seed,
                pitch=self.pitch,
                settings=settings,
            )
        except TimbreLabError as error:
            self.message.setText(str(error))
            return
        clashes = existing_files(planned)
        replace = False
        if clashes:
            answer = self.ask_about_existing(folder, clashes, count)
            if answer is None:
                self.message.setText("Nothing written: the files are already there.")
                return
            replace = answer == "replace"

        def job(progress, should_stop) -> BatchResult:
            return export_batch(
                self.model,
                folder,
                model_id=self.model_id,
                values=self.values,
                n=count,
                spread=spread,
                seed=self.seed,
                pitch=self.pitch,
                settings=settings,
                replace_existing=replace,
                progress=progress,
                should_stop=should_stop,
            )

        self.progress.setRange(0, count)
        self.progress.setValue(0)
        self.message.setText(f"Writing {count} sound{'s' if count > 1 else ''}…")
        self._run(job)

    def start_pack(self, folder: Path) -> None:
        """Write a sample pack of the current sound on a background thread."""
        layers = self.layers_box.value()
        try:
            settings = self.settings()
            pitches = parse_pitches(self.keys_edit.text())
            planned = pack_files(
                self.model, folder, model_id=self.model_id, pitches=pitches,
                velocities=layers, settings=settings,
            )  # fmt: skip
        except TimbreLabError as error:
            self.message.setText(str(error))
            return
        clashes = existing_files(planned)
        if clashes and not self.ask_to_replace_pack(folder, clashes):
            self.message.setText("Nothing written: a pack is already there.")
            return

        def job(progress, should_stop) -> PackResult:
            return export_pack(
                self.model, folder, model_id=self.model_id, values=self.values,
                pitches=pitches, velocities=layers, seed=self.seed, settings=settings,
                overwrite=bool(clashes), progress=progress, should_stop=should_stop,
            )  # fmt: skip

        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.message.setText(f"Rendering a pack over {len(pitches)} key(s)…")
        self._run(job)

    def ask_to_replace_pack(self, folder: Path, clashes: list[Path]) -> bool:
        """Ask whether to replace the pack files already in ``folder``."""
        answer = QMessageBox.question(
            self,
            "Pack already exists",
            f"{len(clashes)} file(s) of this pack are already in {folder}, such as "
            f"{clashes[0].name}. Replace them?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def _run(self, job) -> None:
        def moved(done: int, total: int) -> None:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

        self.task = BackgroundTask(job, self)
        self.task.progressed.connect(moved)
        self.task.succeeded.connect(self._done)
        self.task.failed.connect(self._failed)
        self.task.finished.connect(self._update_enabled)
        self.task.start()
        self._update_enabled()

    def ask_about_existing(self, folder: Path, clashes: list[Path], count: int) -> str | None:
        """Ask what to do with files of the batch that are already in ``folder``: "replace",
        "keep" (the new files get numbered names, nothing is touched) or None to cancel."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Files already exist")
        some = "This file is" if len(clashes) == 1 else f"{len(clashes)} of {count} files are"
        box.setText(f"{some} already in {folder}: {clashes[0].name}")
        box.setInformativeText(
            "Replace them, or keep both by giving the new files numbered names (name-2…)?"
        )
        replace = box.addButton("Replace", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep both", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(keep)
        box.exec()
        clicked = box.clickedButton()
        if clicked is replace:
            return "replace"
        if clicked is keep:
            return "keep"
        return None

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.message.setText("Cancelling…")

    def _done(self, result: BatchResult | PackResult) -> None:
        self.result = result
        if isinstance(result, PackResult):
            self.message.setText(
                "Cancelled: no pack written"
                if result.cancelled
                else f"Wrote {result.sfz.name} with {len(result.samples)} sample(s) and "
                f"sidecars to {result.sfz.parent}"
            )
            return
        folder = result.files[0].parent if result.files else Path(self.folder_edit.text())
        verb = "Cancelled after" if result.cancelled else "Wrote"
        self.message.setText(f"{verb} {len(result.files)} sound(s) with sidecars to {folder}")

    def _failed(self, error: Exception) -> None:
        text = str(error) if isinstance(error, TimbreLabError) else f"export failed: {error}"
        log.warning("%s", text)
        self.message.setText(text)

    def reject(self) -> None:
        if self.task is not None and self.task.isRunning():
            self.task.cancel()
            self.task.wait(10000)
        super().reject()


def _combo(entries: tuple[tuple[str, object], ...], current: object) -> QComboBox:
    box = QComboBox()
    for label, data in entries:
        box.addItem(label, data)
    box.setCurrentIndex(box.findData(current))
    return box
