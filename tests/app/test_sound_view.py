"""The sound view on its own: drawing, decimation of long files, zoom, playhead and seeking."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from app.views.analysis import WaveformPyramid, spectrogram
from app.views.sound_view import SoundView
from tests.app.conftest import WAIT_MS
from tests.support.sounds import tone


@pytest.fixture
def view(qtbot) -> SoundView:
    widget = SoundView()
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.shutdown()


def show(qtbot, view: SoundView, samples: np.ndarray, rate: int) -> None:
    with qtbot.waitSignal(view.analysisReady, timeout=WAIT_MS):
        view.set_audio(samples, rate, title="test")


def test_a_sound_is_drawn_as_waveform_overview_and_spectrogram(qtbot, view: SoundView):
    samples = tone(440.0, seconds=1.0, decay_s=None)
    show(qtbot, view, samples, 44100)

    x, y = view.waveform_curve.getOriginalDataset()
    assert x[0] == pytest.approx(0.0, abs=2e-3) and x[-1] == pytest.approx(1.0, abs=2e-3)
    assert np.max(y) == pytest.approx(0.5, abs=0.01)
    assert view.overview_curve.getOriginalDataset()[0] is not None
    image = view.spectrogram_image.image
    assert image is not None and image.ndim == 2 and image.max() == 0.0
    assert view.region.getRegion() == pytest.approx((0.0, 1.0))
    assert not view.empty_text.isVisible()
    assert "1.00 s" in view.title_label.text() and "44100 Hz" in view.title_label.text()


def test_showing_another_sound_replaces_the_waveform(qtbot, view: SoundView):
    show(qtbot, view, tone(440.0, seconds=0.5, amplitude=0.2), 44100)
    first = view.waveform_curve.getOriginalDataset()[1].copy()
    show(qtbot, view, tone(220.0, seconds=2.0, sample_rate=22050, amplitude=0.9), 22050)
    second_x, second_y = view.waveform_curve.getOriginalDataset()
    assert second_x[-1] == pytest.approx(2.0, abs=0.01)
    assert np.max(second_y) > 2 * np.max(first)


def test_ten_minute_file_is_drawn_from_a_few_thousand_points(qtbot, view: SoundView):
    rate = 44100
    samples = np.sin(np.arange(600 * rate, dtype=np.float32) * 0.01).astype(np.float32)

    show(qtbot, view, samples, rate)

    x, _ = view.waveform_curve.getOriginalDataset()
    assert len(x) <= 2 * 2 * 1000  # about two points per pixel of a 1000-pixel-wide view
    assert x[-1] == pytest.approx(600.0, abs=1.0)
    assert len(view.overview_curve.getOriginalDataset()[0]) <= 2 * 2 * 1000
    assert view.spectrogram_image.image.shape[1] <= 1600
    assert view.analysis.spectrogram.end_s == pytest.approx(600.0, abs=1.0)


def test_zooming_in_shows_individual_samples(qtbot, view: SoundView):
    rate = 8000
    show(qtbot, view, tone(100.0, seconds=3.0, sample_rate=rate), rate)
    view.set_view_range(1.0, 1.05)

    x, y = view.waveform_curve.getOriginalDataset()
    assert len(x) == pytest.approx(0.05 * rate, abs=3)
    assert np.diff(x) == pytest.approx(1 / rate)
    assert view.region.getRegion() == pytest.approx((1.0, 1.05), abs=1e-3)


def test_dragging_the_zoom_region_moves_the_waveform_and_spectrogram(qtbot, view: SoundView):
    show(qtbot, view, tone(300.0, seconds=4.0, decay_s=None), 16000)
    view.region.setRegion((2.0, 3.0))
    assert view.view_range() == pytest.approx((2.0, 3.0), abs=1e-6)
    assert view.spectrogram_plot.getViewBox().viewRange()[0] == pytest.approx([2.0, 3.0], abs=1e-6)


def test_zoomed_span_gets_its_own_sharper_spectrogram(qtbot, view: SoundView):
    rate = 22050
    show(qtbot, view, tone(500.0, seconds=120.0, sample_rate=rate, decay_s=None), rate)
    whole = view.analysis.spectrogram
    view.set_view_range(60.0, 61.0)
    qtbot.waitUntil(lambda: view._shown_spectrogram is not whole, timeout=WAIT_MS)
    zoomed = view._shown_spectrogram
    assert zoomed.hop_s < whole.hop_s / 10
    assert zoomed.start_s <= 60.0 and zoomed.end_s >= 61.0


def test_clicking_a_plot_asks_to_seek_there(qtbot, view: SoundView):
    show(qtbot, view, tone(440.0, seconds=2.0, decay_s=None), 44100)
    box = view.waveform_plot.getViewBox()
    scene_point = box.mapViewToScene(box.mapToView(box.boundingRect().center()))
    expected = box.mapSceneToView(scene_point).x()
    widget_point = view.graphics.mapFromScene(scene_point)

    with qtbot.waitSignal(view.seekRequested, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(
            view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(widget_point)
        )

    assert blocker.args[0] == pytest.approx(expected, abs=0.02)
    assert view.playhead_s == pytest.approx(blocker.args[0])


def test_playhead_follows_set_playhead_in_every_plot(qtbot, view: SoundView):
    show(qtbot, view, tone(440.0, seconds=2.0), 44100)
    view.set_playhead(1.25)
    assert [line.value() for line in view.playheads] == [1.25, 1.25, 1.25]


def test_stereo_sound_is_drawn_as_its_mono_mix(qtbot, view: SoundView):
    left = tone(440.0, seconds=0.5, amplitude=0.8, decay_s=None)
    show(qtbot, view, np.stack([left, -left], axis=1), 44100)
    _, y = view.waveform_curve.getOriginalDataset()
    assert np.abs(y).max() < 1e-6


def test_clear_returns_to_the_empty_hint(qtbot, view: SoundView):
    show(qtbot, view, tone(440.0), 44100)
    view.clear()
    assert view.duration_s == 0.0 and view.analysis is None
    assert view.title_label.text() == "No sound"


def test_envelope_pyramid_keeps_every_peak():
    rate = 44100
    samples = np.zeros(rate * 30, dtype=np.float32)
    spikes = [1234, 700_000, 1_300_001]
    samples[spikes] = [0.9, -0.7, 0.5]
    pyramid = WaveformPyramid.build(samples, rate)
    _, y = pyramid.view(0.0, 30.0, max_points=2000)
    assert len(y) <= 2000
    assert y.max() == pytest.approx(0.9) and y.min() == pytest.approx(-0.7)
    assert 0.5 in y


@pytest.mark.parametrize("frequency", [110.0, 1000.0, 6000.0])
def test_spectrogram_peak_row_is_the_tone_frequency(frequency: float):
    rate = 44100
    spec = spectrogram(tone(frequency, seconds=1.0, decay_s=None), rate)
    row = int(np.argmax(spec.image[:, spec.image.shape[1] // 2]))
    rows = spec.image.shape[0]
    ratio = spec.f_max_hz / spec.f_min_hz
    low, high = spec.f_min_hz * ratio ** (row / rows), spec.f_min_hz * ratio ** ((row + 1) / rows)
    # the row holding the peak spans the tone (one FFT bin of slack for low notes)
    assert low - rate / 2048 <= frequency <= high + rate / 2048


def test_a_zoomed_view_turns_the_page_when_the_playhead_leaves_it(qtbot, view: SoundView):
    show(qtbot, view, tone(440.0, seconds=2.0), 44100)
    view.set_view_range(0.0, 0.5)
    view.set_playhead(0.4, follow=True)
    assert view.view_range() == pytest.approx((0.0, 0.5), abs=1e-6)
    view.set_playhead(0.8, follow=True)
    start, end = view.view_range()
    assert start <= 0.8 <= end and end - start == pytest.approx(0.5, abs=1e-6)
    view.set_playhead(1.9, follow=True)
    assert view.view_range() == pytest.approx((1.5, 2.0), abs=1e-6)
    view.set_playhead(0.1)  # a click or seek moves only the line
    assert view.view_range() == pytest.approx((1.5, 2.0), abs=1e-6)
