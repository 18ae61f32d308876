"""The Sound Map panel on the built-in sounds: a folder becomes points (PCA at once, t-SNE after),
hover plays, click shows, a lasso selection trains, exports and opens as a folder view in a new
window, and the built-in vae's space generates between its points and morphs along a drawn path."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app import model_library
from app.main_window import MainWindow
from app.panels.map import HOVER_SECONDS, MORPH_STEPS, MapPanel
from app.panels.map_view import MapView, colour_steps, size_steps
from synth_core.builtin import write_starter_data
from synth_core.dataset import scan

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def starter_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every seventh built-in training sound (all kinds, 38 files) in a folder of their own."""
    root = tmp_path_factory.mktemp("starter")
    written = sorted(write_starter_data(root / "all")["train"])
    folder = root / "sounds"
    folder.mkdir()
    for path in written[::7]:
        shutil.copy2(path, folder / path.name)
    return folder


@pytest.fixture
def panel(qtbot, starter_folder: Path) -> MapPanel:
    """A shown map panel with the starter sounds laid out by t-SNE."""
    panel = MapPanel()
    qtbot.addWidget(panel)
    panel.resize(700, 600)
    panel.show()
    panel.set_files(sorted(starter_folder.glob("*.wav")))
    qtbot.waitUntil(lambda: panel.layout_name == "pca", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.layout_name == "tsne", timeout=WAIT_MS)
    yield panel
    panel.shutdown()


def _widget_point(view: MapView, index: int) -> QPoint:
    return view.mapFromScene(view.map_position(index))


def _emptiest_spot(coords: np.ndarray) -> np.ndarray:
    """The place inside the points' bounding box farthest from every point (a click there
    generates rather than selects)."""
    low, high = coords.min(0), coords.max(0)
    grid = np.stack(np.meshgrid(*(np.linspace(low[i], high[i], 40) for i in range(2))), -1)
    grid = grid.reshape(-1, 2)
    scaled = lambda p: p / (high - low)  # noqa: E731 - distance in screen-like proportions
    gaps = np.hypot(*(scaled(grid)[:, None] - scaled(coords)[None]).transpose(2, 0, 1)).min(1)
    return grid[int(np.argmax(gaps))]


def test_a_folder_shows_at_once_by_pca_then_by_tsne_and_recolours(panel, starter_folder):
    assert panel.coords().shape == (38, 2) and np.isfinite(panel.coords()).all()
    assert not np.allclose(panel.coords(), panel.layouts["pca"])
    assert panel.progress.isHidden() and "t-SNE layout" in panel.layout_label.text()
    before = [b.color().name() for b in panel.view.scatter.data["brush"]]
    panel.colour_box.setCurrentText("Cluster")
    after = [b.color().name() for b in panel.view.scatter.data["brush"]]
    assert before != after and len(set(after)) > 2
    panel.colour_box.setCurrentText("Pitch")  # unpitched sounds (noise hits) are grey
    assert "#8c8c8c" in {b.color().name() for b in panel.view.scatter.data["brush"]}


def test_cancelling_the_layout_keeps_the_pca_map(qtbot, starter_folder):
    panel = MapPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_files(sorted(starter_folder.glob("*.wav")))
    qtbot.waitUntil(lambda: panel.layout_name == "pca", timeout=WAIT_MS)
    assert panel.cancel_button.isVisible() and panel.progress.isVisible()
    with qtbot.waitSignal(panel.statusMessage, timeout=WAIT_MS) as said:
        panel.cancel_button.click()
    assert "PCA layout stays" in said.args[0]
    assert panel.layout_name == "pca" and np.array_equal(panel.coords(), panel.layouts["pca"])
    assert not panel.cancel_button.isVisible()
    panel.shutdown()


def test_hover_plays_the_start_of_a_sound_and_a_click_shows_all_of_it(qtbot, panel):
    view = panel.view
    with qtbot.waitSignal(panel.hoverSound, timeout=WAIT_MS) as hovered:
        QTest.mouseMove(view.viewport(), _widget_point(view, 5))
    samples, rate = hovered.args
    assert rate == 44100 and samples.shape == (int(HOVER_SECONDS * rate),)
    assert abs(samples[-1]) < 1e-6  # faded out, no click at the cut
    with qtbot.waitSignal(panel.soundChosen, timeout=WAIT_MS) as chosen:
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=_widget_point(view, 5))
    samples, rate, title = chosen.args
    assert title == panel.paths[5].name and samples.shape == (44100,)
    assert panel.selected_paths() == [panel.paths[5]]


def test_a_lasso_selection_trains_and_exports(qtbot, panel, tmp_path):
    coords = panel.coords()
    middle = float(np.median(coords[:, 0]))
    low, high = coords.min(0) - 1, coords.max(0) + 1
    lasso = np.array([[low[0], low[1]], [middle, low[1]], [middle, high[1]], [low[0], high[1]]])
    panel.set_mode("lasso")
    panel.view.box.strokeFinished.emit(lasso, "lasso")
    chosen = panel.selected_paths()
    assert len(chosen) == int((coords[:, 0] < middle).sum()) > 5
    assert panel.train_button.isEnabled()

    with qtbot.waitSignal(panel.trainRequested) as train:
        panel.train_on_selection()
    folder = Path(train.args[0])
    report = scan(folder)
    assert sorted(f.path.name for f in report.usable) == sorted(p.name for p in chosen)

    written = panel.export_selection(tmp_path / "picked")
    assert sorted(p.name for p in written) == sorted(p.name for p in chosen)
    assert all(p.is_file() and not p.is_symlink() for p in written)


def test_a_lasso_selection_opens_as_a_folder_view_in_a_new_window(
    qtbot, panel, starter_folder, tmp_path
):
    coords = panel.coords()
    middle = float(np.median(coords[:, 1]))
    low, high = coords.min(0) - 1, coords.max(0) + 1
    lasso = np.array([[low[0], middle], [high[0], middle], [high[0], high[1]], [low[0], high[1]]])
    panel.set_mode("lasso")
    panel.view.box.strokeFinished.emit(lasso, "lasso")
    chosen = panel.selected_paths()
    assert 5 < len(chosen) < len(panel.paths)
    before = sorted(p.name for p in starter_folder.iterdir())
    mapped = list(panel.paths)

    asked_for_main = []
    panel.folderRequested.connect(asked_for_main.append)
    window = panel.open_selection_as_folder()
    assert window.isVisible() and window.isWindow() and window in panel.selection_windows
    assert f"{len(chosen)} sounds from {starter_folder.name}" in window.windowTitle()
    qtbot.waitUntil(lambda: window.sounds.report is not None, timeout=WAIT_MS)
    listed = sorted(f.path.name for f in window.sounds.report.usable)
    assert listed == sorted(p.name for p in chosen)
    assert asked_for_main == [] and panel.paths == mapped  # the map and main view are kept

    # a click in the new view plays through the map panel's soundChosen (the main sound view)
    with qtbot.waitSignal(panel.soundChosen, timeout=WAIT_MS) as shown:
        window.sounds.select_row(0)
    samples, rate, title = shown.args
    first = window.sounds.selected_file().path
    expected, expected_rate = sf.read(str(first), dtype="float32")
    assert title == first.name and rate == expected_rate and np.allclose(samples, expected)

    with qtbot.waitSignal(panel.trainRequested) as train:
        window.train_button.click()
    assert Path(train.args[0]) == window.folder
    saved = window.save_copies(tmp_path / "kept")
    assert sorted(p.name for p in saved) == sorted(p.name for p in chosen)
    assert all(p.is_file() and not p.is_symlink() for p in saved)
    window.main_button.click()
    assert asked_for_main == [str(window.folder)]

    window.close()
    qtbot.waitUntil(lambda: window not in panel.selection_windows, timeout=WAIT_MS)
    # going back lost or moved nothing: the user's folder holds what it held
    assert sorted(p.name for p in starter_folder.iterdir()) == before
    assert all(p.is_file() for p in chosen)


def test_the_vaes_space_generates_between_points_and_exports_a_morph(qtbot, panel, tmp_path):
    model = model_library.open_model("builtin-vae")
    panel.model_source = lambda: model
    panel.space_box.setCurrentIndex(1)
    qtbot.waitUntil(lambda: panel.space == "model", timeout=WAIT_MS)
    coords = panel.coords()
    assert coords.shape == (38, 2) and np.array_equal(coords, panel.latent_coords)

    far = _emptiest_spot(coords)
    with qtbot.waitSignal(panel.soundChosen, timeout=WAIT_MS) as generated:
        panel.view.box.clicked.emit(float(far[0]), float(far[1]))
    samples, rate, title = generated.args
    assert title == "map blend" and rate == model.sample_rate
    assert samples.shape == (model.config.clip_samples,) and np.abs(samples).max() > 1e-3
    assert len(panel.view.generated.data) == 1

    panel.set_mode("path")
    with qtbot.waitSignal(panel.soundChosen, timeout=WAIT_MS) as morphed:
        panel.view.box.strokeFinished.emit(coords[[0, 10, 20]], "path")
    assert morphed.args[0].shape == (MORPH_STEPS * model.config.clip_samples,)
    qtbot.waitUntil(panel.morph_button.isEnabled, timeout=WAIT_MS)
    written = panel.export_morph(tmp_path / "morph.wav")
    info = sf.info(written)
    expected = MORPH_STEPS * model.config.clip_samples * 48000 / model.sample_rate
    assert info.frames == pytest.approx(expected, abs=16)


def test_a_model_without_a_latent_space_keeps_the_sounds_map(qtbot, panel):
    string = model_library.open_model("physical:string")
    panel.model_source = lambda: string
    with qtbot.waitSignal(panel.statusMessage) as said:
        panel.space_box.setCurrentIndex(1)
    assert "cannot generate from a point" in said.args[0]
    assert panel.space == "sounds" and panel.space_box.currentIndex() == 0


def test_ten_thousand_points_draw_and_find_the_point_under_the_mouse(qtbot):
    view = MapView()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    rng = np.random.default_rng(1)
    coords = rng.normal(size=(10_000, 2))
    view.set_points(
        coords, colour_steps(rng.normal(size=10_000)), size_steps(rng.uniform(0, 3, 10_000))
    )
    assert view.scatter.opts["pen"] is None or len(view.scatter.data) == 10_000
    with qtbot.waitSignal(view.hovered, timeout=5000) as hovered:
        QTest.mouseMove(view.viewport(), _widget_point(view, 1234))
    index = hovered.args[0]
    assert index >= 0 and np.hypot(*(coords[index] - coords[1234])) < 0.05
    assert not view.grab().isNull()


def test_the_window_has_a_sound_map_dock_that_maps_the_open_folder(
    qtbot, main_window: MainWindow, starter_folder, artifacts_dir
):
    qtbot.waitUntil(lambda: main_window.studio is not None, timeout=WAIT_MS)
    toggles = [a.text() for a in main_window.view_menu.actions()]
    assert "Sound Map" in toggles
    main_window.resize(1400, 900)
    main_window.open_folder(starter_folder)
    main_window.map_dock.show()
    main_window.map_dock.raise_()
    panel = main_window.map_panel
    qtbot.waitUntil(lambda: panel.layout_name == "tsne", timeout=WAIT_MS)
    with qtbot.waitSignal(main_window.sound_view.analysisReady, timeout=WAIT_MS):
        panel.select_index(3)
    panel.colour_box.setCurrentText("Brightness")
    qtbot.wait(100)
    image = main_window.grab().toImage()
    assert image.save(str(artifacts_dir / "map_panel.png"))
    folder = panel.train_on_selection()  # the selected clip becomes the Train panel's data
    assert main_window.studio.training.data_folder == folder

    # a selection opened as a folder view: a new window, its sounds play in the main sound view,
    # and the main window keeps its folder (closing the new one is going back)
    panel.select_mask(np.arange(len(panel.paths)) % 4 == 0)
    window = panel.open_selection_as_folder()
    qtbot.waitUntil(lambda: window.sounds.report is not None, timeout=WAIT_MS)
    with qtbot.waitSignal(main_window.sound_view.analysisReady, timeout=WAIT_MS):
        window.sounds.select_row(1)
    assert main_window.dataset_panel.folder == starter_folder
    shown = main_window.sound_view.title_label.text()
    assert shown.startswith(window.sounds.selected_file().path.name)
    qtbot.wait(100)
    assert window.grab().toImage().save(str(artifacts_dir / "map_selection_window.png"))
    window.close()
    qtbot.waitUntil(lambda: not panel.selection_windows, timeout=WAIT_MS)

    # the model being played (the starter vae) maps its own space over the same clips
    qtbot.waitUntil(lambda: main_window.studio.explore.model is not None, timeout=WAIT_MS)
    panel.space_box.setCurrentIndex(1)
    qtbot.waitUntil(lambda: panel.space == "model", timeout=WAIT_MS)
    between = _emptiest_spot(panel.coords())
    with qtbot.waitSignal(main_window.sound_view.analysisReady, timeout=WAIT_MS):
        panel.view.box.clicked.emit(float(between[0]), float(between[1]))
    assert len(panel.view.generated.data) == 1
    qtbot.wait(100)
    assert main_window.grab().toImage().save(str(artifacts_dir / "map_model_space.png"))
