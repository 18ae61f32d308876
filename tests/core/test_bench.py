"""``timbrelab bench`` runs and prints its numbers (tiny sizes here; the numbers are not judged)."""

from __future__ import annotations

import json

from synth_core.benchmarks.families import BENCHES, run_bench
from synth_core.benchmarks.measure import (
    BenchOptions,
    BenchResult,
    real_time_factor,
    timings,
)
from synth_core.cli import main


def test_physical_bench_reports_every_instrument_at_each_batch_size():
    results = run_bench("physical", BenchOptions(seconds=0.05, batches=(1, 2), repeats=1))
    subjects = {r.subject for r in results if r.metric.startswith("RTF")}
    assert subjects == {"string", "bar", "marimba", "bell", "membrane", "tube"}
    rtf = [r for r in results if r.metric == "RTF, batch 2"]
    assert len(rtf) == 6 and all(r.value > 0 for r in rtf)
    assert any(r.metric == "slider-to-audio latency p95" for r in results)
    assert {r.metric for r in results if r.subject == "matching"} == {
        "search per clip (begin)",
        "Adam step, batch 16",
    }
    assert results[-1].metric == "peak memory" and results[-1].value > 0
    assert all(isinstance(r.line(), str) and r.family in r.line() for r in results)


def test_real_time_factor_is_audio_seconds_over_median_call_time():
    calls = []
    rtf, median = real_time_factor(lambda: calls.append(1), 2.0, repeats=3, warmup=2)
    # an instant call repeats until half a second is timed, at most 500 times (+ the warm-up)
    assert len(calls) == 502
    assert rtf == 2.0 / max(median, 1e-12) and rtf > 0


def test_timings_take_at_least_the_repeats_asked_for_slow_calls():
    import time

    seconds = timings(lambda: time.sleep(0.02), repeats=3, warmup=0, min_seconds=0.05)
    assert len(seconds) == 3 and min(seconds) >= 0.02


def test_bench_command_prints_a_table_and_json(monkeypatch, capsys):
    from synth_core.benchmarks import physical

    # The real physical bench, in the family table at a tiny size.
    def tiny(options: BenchOptions) -> list[BenchResult]:
        return physical.bench(BenchOptions(seconds=0.05, batches=(1,), repeats=1))

    monkeypatch.setitem(BENCHES, "physical", tiny)
    assert main(["bench", "--family", "physical", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {name.split("/")[1] for name in report["figures"]} >= {"string", "tube", "process"}
    assert report["threads"] >= 1
    assert main(["bench", "--family", "physical"]) == 0
    assert "RTF, batch 1" in capsys.readouterr().out


def test_every_family_in_the_bench_table_is_a_registered_family():
    from synth_core.models.base import FAMILY_NAMES

    assert set(BENCHES) <= set(FAMILY_NAMES)
