"""The app's look: Fusion style, a dark palette, a small style sheet, the app icon, plot colours.

One dark theme, chosen for contrast on waveforms and spectrograms; every colour a widget uses
comes from here or from ``resources/style.qss`` so panels do not invent their own.
"""

from __future__ import annotations

import logging

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from synth_core.paths import resources_dir

log = logging.getLogger(__name__)

RESOURCES_DIR = resources_dir()
STYLE_SHEET = RESOURCES_DIR / "style.qss"
APP_ICON = RESOURCES_DIR / "icons" / "timbrelab.svg"

# Plot colours (pyqtgraph takes any Qt colour spec).
PLOT_BACKGROUND = "#17181b"
PLOT_FOREGROUND = "#b8bcc4"
WAVEFORM_PEN = "#5b9cf0"
OVERVIEW_PEN = "#7f8896"
PLAYHEAD_PEN = "#f2c14e"
REGION_BRUSH = (91, 156, 240, 45)
REGION_EDGE = "#6f8fbf"
REGION_EDGE_HOVER = "#a9c8f7"
SPECTROGRAM_COLORMAP = "inferno"

_PALETTE = {
    QPalette.ColorRole.Window: "#232428",
    QPalette.ColorRole.WindowText: "#e3e5e8",
    QPalette.ColorRole.Base: "#1b1c1f",
    QPalette.ColorRole.AlternateBase: "#26282c",
    QPalette.ColorRole.ToolTipBase: "#2b2d31",
    QPalette.ColorRole.ToolTipText: "#e3e5e8",
    QPalette.ColorRole.PlaceholderText: "#80848e",
    QPalette.ColorRole.Text: "#e3e5e8",
    QPalette.ColorRole.Button: "#2e3035",
    QPalette.ColorRole.ButtonText: "#e3e5e8",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Link: "#6ea8ff",
    QPalette.ColorRole.Highlight: "#3d6fb6",
    QPalette.ColorRole.HighlightedText: "#ffffff",
}
_DISABLED = {
    QPalette.ColorRole.WindowText: "#70747c",
    QPalette.ColorRole.Text: "#70747c",
    QPalette.ColorRole.ButtonText: "#70747c",
}


def dark_palette() -> QPalette:
    """The app's dark palette (enabled and disabled colours)."""
    palette = QPalette()
    for role, colour in _PALETTE.items():
        palette.setColor(role, QColor(colour))
    for role, colour in _DISABLED.items():
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(colour))
    return palette


def app_icon() -> QIcon:
    """The Timbre Lab icon (an SVG in ``resources/icons``)."""
    return QIcon(str(APP_ICON))


def apply_theme(app: QApplication) -> None:
    """Give ``app`` the Fusion style, the dark palette, the style sheet and the icon."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    try:
        app.setStyleSheet(STYLE_SHEET.read_text(encoding="utf-8"))
    except OSError as error:  # a broken install still runs, only plainer
        log.warning("style sheet %s not loaded: %s", STYLE_SHEET, error)
    app.setWindowIcon(app_icon())
