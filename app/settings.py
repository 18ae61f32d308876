"""What the app remembers between sessions, in one INI file under the user's config folder.

The file lives in :func:`synth_core.paths.config_dir` (``~/.config/timbrelab/timbrelab.ini`` on
Linux), so ``TIMBRELAB_CONFIG_DIR`` moves it; tests point that variable at a temporary folder and
never touch a real home.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from synth_core.paths import config_dir

log = logging.getLogger(__name__)

SETTINGS_FILE_NAME = "timbrelab.ini"
MAX_RECENT_FOLDERS = 8
DEFAULT_OSC_PORT = 9137


def settings_path() -> Path:
    """The INI file the app's settings are stored in (it may not exist yet)."""
    return config_dir() / SETTINGS_FILE_NAME


class AppSettings:
    """Typed access to the app's ``QSettings``.

    Parameters
    ----------
    path : Path or None
        INI file to use; ``None`` means :func:`settings_path`.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else settings_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.qsettings = QSettings(str(self.path), QSettings.Format.IniFormat)

    def sync(self) -> None:
        """Write pending changes to disk now."""
        self.qsettings.sync()

    def _bytes(self, key: str) -> QByteArray | None:
        value = self.qsettings.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @property
    def window_geometry(self) -> QByteArray | None:
        """``QMainWindow.saveGeometry()`` of the last session, or ``None``."""
        return self._bytes("window/geometry")

    @window_geometry.setter
    def window_geometry(self, value: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        """``QMainWindow.saveState()`` (docks and toolbars) of the last session, or ``None``."""
        return self._bytes("window/state")

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self.qsettings.setValue("window/state", value)

    @property
    def saved_docks(self) -> list[str]:
        """Object names of the docks :attr:`window_state` describes."""
        value = self.qsettings.value("window/docks", [])
        return [value] if isinstance(value, str) else list(value or [])

    @saved_docks.setter
    def saved_docks(self, names: list[str]) -> None:
        self.qsettings.setValue("window/docks", list(names))

    @property
    def last_folder(self) -> Path | None:
        """The folder of sounds opened most recently, or ``None``."""
        value = self.qsettings.value("dataset/last_folder", "")
        return Path(value) if value else None

    @last_folder.setter
    def last_folder(self, folder: Path) -> None:
        self.qsettings.setValue("dataset/last_folder", str(folder))

    @property
    def recent_folders(self) -> list[Path]:
        """Folders opened before, newest first, at most :data:`MAX_RECENT_FOLDERS`."""
        value = self.qsettings.value("dataset/recent_folders", [])
        if isinstance(value, str):  # QSettings returns a one-item list as a plain string
            value = [value]
        return [Path(item) for item in value or [] if item]

    def remember_folder(self, folder: Path) -> None:
        """Make ``folder`` the last folder and put it first in the recent list."""
        folder = Path(folder)
        recent = [folder] + [item for item in self.recent_folders if item != folder]
        self.qsettings.setValue(
            "dataset/recent_folders", [str(item) for item in recent[:MAX_RECENT_FOLDERS]]
        )
        self.last_folder = folder

    def clear_recent_folders(self) -> None:
        """Forget the recent-folder list (the last folder stays)."""
        self.qsettings.remove("dataset/recent_folders")

    @property
    def primer_folder(self) -> Path | None:
        """The folder the last primer recording was chosen from (Explore ▸ Primer…), or None."""
        value = self.qsettings.value("explore/primer_folder", "")
        return Path(value) if value else None

    @primer_folder.setter
    def primer_folder(self, folder: Path) -> None:
        self.qsettings.setValue("explore/primer_folder", str(folder))

    @property
    def volume(self) -> float:
        """Playback volume, 0–1 (linear gain)."""
        try:
            value = float(self.qsettings.value("transport/volume", 0.8))
        except (TypeError, ValueError):
            log.warning("ignoring unreadable transport/volume in %s", self.path)
            return 0.8
        return min(max(value, 0.0), 1.0)

    @volume.setter
    def volume(self, value: float) -> None:
        self.qsettings.setValue("transport/volume", float(value))

    @property
    def loop(self) -> bool:
        """Whether playback loops."""
        value = self.qsettings.value("transport/loop", False)
        return value in (True, "true", "1", 1)

    @loop.setter
    def loop(self, value: bool) -> None:
        self.qsettings.setValue("transport/loop", bool(value))

    @property
    def output_device(self) -> str | None:
        """Name of the chosen audio output device, ``None`` for the system default."""
        value = self.qsettings.value("transport/output_device", "")
        return str(value) if value else None

    @output_device.setter
    def output_device(self, name: str | None) -> None:
        self.qsettings.setValue("transport/output_device", name or "")

    @property
    def midi_port(self) -> str | None:
        """Name of the MIDI input the keyboard plays through, ``None`` for none."""
        value = self.qsettings.value("midi/port", "")
        return str(value) if value else None

    @midi_port.setter
    def midi_port(self, name: str | None) -> None:
        self.qsettings.setValue("midi/port", name or "")

    @property
    def midi_mappings(self) -> dict[int, str]:
        """MIDI learn: controller number (0–127) → what it drives (``control:NAME``, ``pad:x``)."""
        text = self.qsettings.value("midi/mappings", "")
        try:
            raw = json.loads(text) if text else {}
            mappings = {int(cc): str(target) for cc, target in dict(raw).items()}
        except (TypeError, ValueError):
            log.warning("ignoring unreadable midi/mappings in %s", self.path)
            return {}
        return {cc: target for cc, target in mappings.items() if 0 <= cc <= 127 and target}

    @midi_mappings.setter
    def midi_mappings(self, mappings: dict[int, str]) -> None:
        text = json.dumps({str(cc): target for cc, target in sorted(mappings.items())})
        self.qsettings.setValue("midi/mappings", text)

    @property
    def osc_enabled(self) -> bool:
        """Whether the OSC server listens (off unless the user turned it on)."""
        return self.qsettings.value("osc/enabled", False) in (True, "true", "1", 1)

    @osc_enabled.setter
    def osc_enabled(self, value: bool) -> None:
        self.qsettings.setValue("osc/enabled", bool(value))

    @property
    def osc_port(self) -> int:
        """UDP port of the OSC server on 127.0.0.1 (0: any free port)."""
        try:
            value = int(self.qsettings.value("osc/port", DEFAULT_OSC_PORT))
        except (TypeError, ValueError):
            log.warning("ignoring unreadable osc/port in %s", self.path)
            return DEFAULT_OSC_PORT
        return value if 0 <= value <= 65535 else DEFAULT_OSC_PORT

    @osc_port.setter
    def osc_port(self, value: int) -> None:
        self.qsettings.setValue("osc/port", int(value))
