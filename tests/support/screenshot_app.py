"""Child process for the Xvfb test: the real main window, a folder opened, its first sound shown.

Run as ``python -m tests.support.screenshot_app FOLDER OUT.png OUT.json`` with ``DISPLAY`` set
(``tests.support.xvfb``). ``TIMBRELAB_T0`` (a ``time.time()`` taken by the parent just before
starting this process) makes the reported times include interpreter start-up.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

T0 = float(os.environ.get("TIMBRELAB_T0", time.time()))
TIMEOUT_MS = 60_000


def main(folder: str, png: str, out_json: str) -> int:
    from PySide6.QtCore import QTimer

    from app.main import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings

    app = create_application()
    report: dict[str, object] = {"imported_s": time.time() - T0}
    window = MainWindow(AppSettings())
    window.setGeometry(app.primaryScreen().availableGeometry())
    window.restore_layout()
    window.show()
    QTimer.singleShot(0, lambda: report.setdefault("shown_s", time.time() - T0))
    panel, view = window.dataset_panel, window.sound_view

    def scanned(scan_report: object) -> None:
        report["scanned_s"] = time.time() - T0
        report["rows"] = panel.model.rowCount()
        report["skipped"] = panel.skipped_model.rowCount()
        panel.skipped_box.expand(animate=False)
        panel.select_row(0)

    def drawn() -> None:
        selected = panel.selected_file()
        if selected is None or selected.path.name not in view.title_label.text():
            return  # another panel's sound (a model's preview); wait for the chosen file
        view.analysisReady.disconnect(drawn)
        report["drawn_s"] = time.time() - T0
        report["title"] = view.title_label.text()
        start, end = view.view_range()
        view.set_view_range(start, start + 0.6 * (end - start))  # so the zoom region shows
        QTimer.singleShot(700, grab)

    def grab() -> None:
        app.primaryScreen().grabWindow(0).save(png)
        report["transport"] = window.transport.reason_label.text()
        report["window"] = [window.width(), window.height()]
        finish(0)

    def finish(code: int) -> None:
        report.setdefault("error", None if code == 0 else "timed out")
        Path(out_json).write_text(json.dumps(report))
        window.close()
        app.exit(code)

    panel.folderScanned.connect(scanned)
    view.analysisReady.connect(drawn)
    QTimer.singleShot(TIMEOUT_MS, lambda: finish(1))
    window.open_folder(folder)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:4]))
