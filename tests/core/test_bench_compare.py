"""``timbrelab bench --json FILE`` saves a report and ``--compare OLD`` reads regressions off it.

The bench runs for real (the physical family at a tiny size); no number is judged for speed,
only how reports are written and compared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synth_core.benchmarks import compare
from synth_core.benchmarks.families import BENCHES
from synth_core.benchmarks.measure import BenchOptions, BenchResult
from synth_core.cli import main


def tiny(options: BenchOptions) -> list[BenchResult]:
    """The real physical bench at a size that runs in seconds: short notes, batch 1, one
    repeat, and without the sound-matching figures (a search per clip takes the longest)."""
    from synth_core.benchmarks import physical

    return physical.bench(BenchOptions(seconds=0.05, batches=(1,), repeats=1))


@pytest.fixture
def tiny_physical_bench(monkeypatch: pytest.MonkeyPatch) -> None:
    """:func:`tiny` in the family table instead of the full physical bench."""
    from synth_core.benchmarks import physical

    monkeypatch.setitem(BENCHES, "physical", tiny)
    monkeypatch.setattr(physical, "_matching", lambda options: [])


@pytest.fixture(scope="module")
def saved_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A report written by ``timbrelab bench --family physical --json FILE``, and the table the
    same run printed (run once for the tests that only read it)."""
    import contextlib
    import io

    from synth_core.benchmarks import physical

    path = tmp_path_factory.mktemp("bench") / "new.json"
    table = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(table):
        patch.setitem(BENCHES, "physical", tiny)
        patch.setattr(physical, "_matching", lambda options: [])
        assert main(["bench", "--family", "physical", "--json", str(path)]) == 0
    return path, table.getvalue()


def doctored(report: dict, changes: dict[str, float]) -> dict:
    """``report`` as an older run would have had it: ``changes`` maps a figure to how much
    worse the *new* value is than this old one (0.2: 20 % worse, -0.2: 20 % better)."""
    old = json.loads(json.dumps(report))
    for name, worse in changes.items():
        figure = old["figures"][name]
        if figure["better"] == "higher":  # new = old × (1 - worse)
            figure["value"] = figure["value"] / (1 - worse)
        else:  # new = old × (1 + worse)
            figure["value"] = figure["value"] / (1 + worse)
    return old


def test_json_file_records_device_versions_machine_and_every_printed_figure(saved_report):
    path, table = saved_report
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["schema"] == compare.SCHEMA
    assert report["device"] == "cpu"
    assert set(report["versions"]) >= {"python", "torch", "numpy", "PySide6", "timbrelab"}
    assert "git commit" in report["versions"]
    assert report["machine"]["cpu count"] >= 1 and report["machine"]["cpu model"]
    printed = [line for line in table.splitlines() if line.startswith("physical ")]
    assert len(printed) == len(report["figures"]) >= 13  # 6 instruments × 2, peak memory
    for name, figure in report["figures"].items():
        family, subject, metric = name.split("/")
        assert family == "physical" and any(subject in line and metric in line for line in printed)
        assert figure["value"] > 0
        assert (
            figure["better"]
            == {"ms": "lower", "MiB": "lower", "x real time": "higher"}[figure["unit"]]
        )
    assert compare.load_report(path)["figures"] == report["figures"]


def test_compare_flags_exactly_the_figures_made_20_percent_worse_in_both_directions(
    saved_report, tmp_path: Path, capsys
):
    new_path, _ = saved_report
    new = json.loads(new_path.read_text(encoding="utf-8"))
    slower = "physical/bell/RTF, batch 1"  # higher is better
    laggier = "physical/string/slider-to-audio latency p95"  # lower is better
    assert new["figures"][slower]["better"] == "higher"
    assert new["figures"][laggier]["better"] == "lower"
    changes = {
        slower: 0.20,
        laggier: 0.20,
        "physical/bar/RTF, batch 1": 0.05,
        "physical/bar/slider-to-audio latency p95": 0.05,
        "physical/tube/RTF, batch 1": -0.20,
        "physical/tube/slider-to-audio latency p95": -0.20,
    }
    old_path = tmp_path / "old.json"
    old_path.write_text(json.dumps(doctored(new, changes)), encoding="utf-8")

    assert main(["bench", "--compare", str(old_path), str(new_path)]) == 0
    out = capsys.readouterr().out
    flagged = {line.split("  ")[0] for line in out.splitlines() if "REGRESSION" in line}
    assert flagged == {slower, laggier}
    assert out.splitlines()[-1].startswith("2 regressions over 10 %")
    bell = next(line for line in out.splitlines() if line.startswith(slower))
    assert "×0.800" in bell and "20 % worse" in bell
    string = next(line for line in out.splitlines() if line.startswith(laggier))
    assert "×1.200" in string


def test_compare_after_a_fresh_run_prints_every_ratio_and_the_summary(
    tiny_physical_bench, tmp_path: Path, capsys
):
    # an old run 100 times better on every figure: every figure of the new run is a regression
    old = tmp_path / "old.json"
    assert main(["bench", "--family", "physical", "--json", str(old)]) == 0
    report = json.loads(old.read_text(encoding="utf-8"))
    for figure in report["figures"].values():
        figure["value"] *= 100 if figure["better"] == "higher" else 0.01
    # a figure of a family not asked for this time is left out, not listed as gone
    report["figures"]["vae/default/training throughput"] = {
        "value": 1.0, "unit": "clips/s", "better": "higher", "detail": {}
    }  # fmt: skip
    old.write_text(json.dumps(report), encoding="utf-8")
    capsys.readouterr()

    assert main(["bench", "--family", "physical", "--compare", str(old)]) == 0
    out = capsys.readouterr().out
    ratios = [line for line in out.splitlines() if "×" in line]
    physical = len(report["figures"]) - 1
    assert len(ratios) == physical and "vae/" not in out
    assert out.splitlines()[-1].startswith(f"{physical} regressions over 10 %")


def test_a_missing_or_foreign_old_report_is_named_with_what_to_do(tmp_path: Path, capsys):
    missing = tmp_path / "nope.json"
    assert main(["bench", "--compare", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "timbrelab bench --json FILE" in err and "Traceback" not in err

    foreign = tmp_path / "other.json"
    foreign.write_text(json.dumps({"results": []}), encoding="utf-8")
    assert main(["bench", "--compare", str(foreign), str(foreign)]) == 2
    assert "schema" in capsys.readouterr().err


def test_a_figure_in_a_unit_without_a_direction_is_refused_by_name():
    from synth_core.errors import ModelConfigError

    with pytest.raises(ModelConfigError, match="furlongs"):
        compare.figures([BenchResult("x", "y", "z", 1.0, "furlongs")])


def test_a_failed_measurement_is_saved_as_null_and_compared_as_not_measured(tmp_path: Path):
    rows = [BenchResult("map", "10000 points", "frame time p95", float("nan"), "ms")]
    report = compare.build_report(rows, environment_at_start=compare.environment())
    path = tmp_path / "failed.json"
    compare.write_report(report, path)
    assert "NaN" not in path.read_text(encoding="utf-8")  # strict JSON, readable anywhere
    loaded = compare.load_report(path)
    assert loaded["figures"]["map/10000 points/frame time p95"]["value"] is None
    lines = compare.comparison_lines(compare.compare_reports(loaded, loaded), old_label="old")
    assert any("not measured" in line for line in lines)
    assert lines[-1].startswith("0 regressions over 10 %")
