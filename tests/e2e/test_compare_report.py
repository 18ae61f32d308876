"""A teacher runs ``timbrelab compare`` on a folder and opens the report in a browser: every
sound plays and the table says what compare.json says."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from synth_core.report_html import COLUMNS
from tests.support.compare_data import write_compare_data

REPO = Path(__file__).resolve().parents[2]
# a real comparison trains and scores two families: minutes on a busy 2-core machine
pytestmark = pytest.mark.timeout(900)

CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const audios = [...document.querySelectorAll('audio')];
  const settled = () => audios.every(a => a.readyState >= 1 || a.error);
  const finish = () => {
    const result = {
      audio: audios.map(a => ({file: a.dataset.file, readyState: a.readyState,
        duration: a.duration, error: a.error ? a.error.code : null})),
      rows: [...document.querySelectorAll('#scores tbody tr')].map(tr => ({
        family: tr.dataset.family,
        cells: Object.fromEntries([...tr.querySelectorAll('td')].map(
          td => [td.dataset.key, td.textContent]))})),
      images: [...document.querySelectorAll('img')].map(i => i.naturalWidth),
    };
    const pre = document.createElement('pre');
    pre.id = 'browser-check';
    pre.textContent = JSON.stringify(result);
    document.body.appendChild(pre);
  };
  const poll = (n) => (settled() || n <= 0) ? finish() : setTimeout(() => poll(n - 1), 100);
  poll(100);
});
</script>"""


def _browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run_compare(data: Path, test: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))}
    return subprocess.run(
        [sys.executable, "-m", "synth_core", "compare", str(data), "--test", str(test),
         "--families", "gmm,hmm", "--steps", "3", "--test-clips", "3", "--out", str(out)],
        capture_output=True, text=True, timeout=900, env=env, cwd=REPO,
    )  # fmt: skip


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compare")
    data, test = write_compare_data(root / "data")
    out = root / "out"
    done = _run_compare(data, test, out)
    assert done.returncode == 0, done.stderr
    assert "2 families compared" in done.stderr
    return out


def test_compare_writes_rows_sounds_and_a_self_contained_report(comparison: Path) -> None:
    data = json.loads((comparison / "compare.json").read_text())
    assert [row["family"] for row in data["rows"]] == ["gmm", "hmm"]
    for row in data["rows"]:
        assert row["steps"] == 3
        assert 0.0 <= row["one_nn"] <= 1.0
        assert row["realtime_factor"] > 0 and row["model_bytes"] > 1000
        assert len(row["sounds"]) == 4
        assert all((comparison / p).is_file() for p in row["sounds"])
        assert (comparison / row["run"] / "model.json").is_file()
    assert data["baseline"]["name"].startswith("eigen-sounds")
    assert len(data["real"]["sounds"]) == 3  # --test-clips 3 of the 4 test clips
    report = (comparison / "report.html").read_text()
    # nothing is fetched: every sound and image is inside the page
    assert 'src="sounds/' not in report and "http" not in report.split("<body>")[1]
    assert report.count("<audio") == 15 and report.count("data:audio/wav;base64,") == 15


def test_the_report_plays_every_sound_in_a_real_browser_and_its_table_matches(
    comparison: Path, tmp_path: Path
) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip("chromium is not installed (make deps installs it from APT_PACKAGES)")
    page = tmp_path / "check.html"
    page.write_text(
        (comparison / "report.html").read_text().replace("</body>", CHECK_SCRIPT + "</body>")
    )
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--mute-audio",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    start = done.stdout.find('<pre id="browser-check">')
    assert start >= 0, f"the page's check did not run: {done.stderr[-2000:]}"
    text = done.stdout[start + len('<pre id="browser-check">') : done.stdout.find("</pre>", start)]
    result = json.loads(text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))

    data = json.loads((comparison / "compare.json").read_text())
    seconds = data["rows"][0]["clip_seconds"]
    assert len(result["audio"]) == 15
    for audio in result["audio"]:
        assert audio["error"] is None and audio["readyState"] >= 1, audio
        assert math.isclose(audio["duration"], seconds, abs_tol=0.01), audio
    assert len(result["images"]) == 15 and all(width > 0 for width in result["images"])

    shown = {row["family"]: row["cells"] for row in result["rows"]}
    assert list(shown) == ["gmm", "hmm", "baseline"]
    # Each cell must read exactly as the report's own format writes the number in compare.json
    # (a tolerance flakes on halves: 263.45 is stored as 263.4499... and shown as 263.4).
    checked = ("one_nn", "frechet", "sc_db", "steps", "realtime_factor")
    formats = {key: fmt for key, _, fmt in COLUMNS if key in checked}
    assert set(formats) == set(checked)
    for row in data["rows"]:
        cells = shown[row["family"]]
        for key, fmt in formats.items():
            assert cells[key].strip() == fmt.format(row[key]), (row["family"], key, cells[key])
    assert shown["baseline"]["one_nn"].strip() == formats["one_nn"].format(
        data["baseline"]["one_nn"]
    )


def test_compare_refuses_an_unknown_family_before_training(tmp_path: Path) -> None:
    data, test = tmp_path / "data", tmp_path / "test"
    data.mkdir()
    test.mkdir()
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))}
    done = subprocess.run(
        [sys.executable, "-m", "synth_core", "compare", str(data), "--families", "gmm,flute",
         "--steps", "1", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, env=env, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2
    assert "flute" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "runs").exists()
