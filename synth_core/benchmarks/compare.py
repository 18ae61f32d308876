"""Bench reports saved as JSON and compared (``timbrelab bench --json FILE``, ``--compare OLD``).

A report records where the numbers were measured (device, versions, machine and its load) and
every figure the bench printed, keyed by a stable name ``family/subject/metric``, each with its
value, unit and whether higher or lower is better. :func:`compare_reports` gives each figure's
ratio to an older report's and flags those more than :data:`REGRESSION_THRESHOLD` worse, so a
slowdown reads as a number rather than as a feeling. ``bench/reference-*.json`` are such reports,
one per machine kind.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from synth_core.benchmarks.measure import BenchResult
from synth_core.errors import ModelConfigError, from_system_error

SCHEMA = "timbrelab-bench/1"
"""The ``schema`` field of a report; a report with another one is refused."""
REGRESSION_THRESHOLD = 0.10
"""A figure more than this fraction worse than the old one is a regression (10 %)."""

HIGHER_IS_BETTER_UNITS = frozenset({"x real time", "clips/s"})
LOWER_IS_BETTER_UNITS = frozenset({"ms", "s", "MiB"})


def better_direction(unit: str) -> str:
    """``"higher"`` or ``"lower"``: which way of ``unit`` is an improvement.

    Raises
    ------
    ModelConfigError
        ``unit`` is in neither table (a new bench must say which way its numbers go).
    """
    if unit in HIGHER_IS_BETTER_UNITS:
        return "higher"
    if unit in LOWER_IS_BETTER_UNITS:
        return "lower"
    raise ModelConfigError(
        f"bench unit {unit!r} has no direction; add it to HIGHER_IS_BETTER_UNITS or "
        "LOWER_IS_BETTER_UNITS in synth_core/benchmarks/compare.py"
    )


def figure_name(result: BenchResult) -> str:
    """The stable key of a figure: ``family/subject/metric``."""
    return f"{result.family}/{result.subject}/{result.metric}"


def figures(results: Iterable[BenchResult]) -> dict[str, dict[str, Any]]:
    """Figure name → value, unit, better (``higher``/``lower``) and what the row said besides.

    A value that is not a finite number (a measurement that failed) is ``None``, so the file
    stays strict JSON; comparisons list such figures as not measured.
    """
    table: dict[str, dict[str, Any]] = {}
    for result in results:
        name = figure_name(result)
        repeat = 2
        while name in table:  # the same figure measured twice: keep both, numbered
            name = f"{figure_name(result)} #{repeat}"
            repeat += 1
        value = float(result.value)
        table[name] = {
            "value": value if math.isfinite(value) else None,
            "unit": result.unit,
            "better": better_direction(result.unit),
            "detail": dict(result.detail),
        }
    return table


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    """The checkout's commit (with ``+dirty`` for local changes), or ``None`` outside git."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Device, versions and machine of this process, as a report records them."""
    import torch

    from synth_core import __version__

    accelerators = [
        torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
    ] if torch.cuda.is_available() else []  # fmt: skip
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        # the benches build their models with torch's default device
        "device": str(torch.empty(0).device),
        "threads": torch.get_num_threads(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": _version("numpy"),
            "PySide6": _version("PySide6-Essentials") or _version("PySide6"),
            "timbrelab": __version__,
            "git commit": _git_commit(),
        },
        "machine": {
            "cpu count": os.cpu_count(),
            "cpu model": _cpu_model(),
            "platform": platform.platform(),
            "accelerators": accelerators,
            "load average at start": [round(x, 2) for x in load] if load else None,
        },
    }


def build_report(
    results: Iterable[BenchResult],
    *,
    environment_at_start: Mapping[str, Any],
    skipped: Mapping[str, str] | None = None,
    note: str = "",
) -> dict[str, Any]:
    """The JSON document of one bench run (see the module docstring)."""
    report: dict[str, Any] = {"schema": SCHEMA}
    report["created"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report["note"] = note
    report.update(environment_at_start)
    if hasattr(os, "getloadavg"):
        report["machine"] = {
            **report["machine"],
            "load average at end": [round(x, 2) for x in os.getloadavg()],
        }
    report["figures"] = figures(results)
    report["skipped"] = dict(skipped or {})
    return report


def write_report(report: Mapping[str, Any], path: Path) -> None:
    """Write ``report`` to ``path`` as indented JSON (``-`` is standard output).

    Raises
    ------
    SystemFailureError or DiskFullError
        The file could not be written (no such folder, no permission, disk full).
    """
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if str(path) == "-":
        sys.stdout.write(text)
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise from_system_error(error, path=path) or error from None


def load_report(path: Path) -> dict[str, Any]:
    """Read a report written by :func:`write_report`.

    Raises
    ------
    ModelConfigError
        The file is missing, is not JSON, or is not a bench report of this schema.
    """
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelConfigError(
            "no such bench report; give a file written by `timbrelab bench --json FILE`",
            path=path,
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelConfigError(
            f"not a readable bench report ({error}); give a file written by "
            "`timbrelab bench --json FILE`",
            path=path,
        ) from None
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        found = report.get("schema") if isinstance(report, dict) else type(report).__name__
        raise ModelConfigError(
            f"not a bench report of schema {SCHEMA!r} (found {found!r}); write a new one "
            "with `timbrelab bench --json FILE`",
            path=path,
        )
    table = report.get("figures")
    if not isinstance(table, dict) or not all(
        isinstance(f, dict) and isinstance(f.get("value"), int | float | None) and "unit" in f
        for f in table.values()
    ):
        raise ModelConfigError("its 'figures' are not name → {value, unit, better}", path=path)
    return report


@dataclass(frozen=True)
class FigureChange:
    """One figure in both reports: ``ratio`` is new / old; ``worse`` the fraction it got worse
    in its own direction (negative: better)."""

    name: str
    old: float
    new: float
    unit: str
    better: str

    @property
    def ratio(self) -> float:
        return self.new / self.old if self.old else float("inf") if self.new else 1.0

    @property
    def worse(self) -> float:
        """0.2: 20 % worse (a time 1.2× as long, a speed 0.8× as fast)."""
        if self.old == 0:
            return 0.0 if self.new == 0 else (float("inf") if self.better == "lower" else -1.0)
        if self.better == "lower":
            return self.new / self.old - 1.0
        return 1.0 - self.new / self.old

    @property
    def regression(self) -> bool:
        return self.worse > REGRESSION_THRESHOLD


@dataclass(frozen=True)
class Comparison:
    """Figures in both reports, and those only in the old or only in the new one."""

    changes: list[FigureChange]
    gone: list[str]
    new: list[str]
    unmeasured: list[str]

    @property
    def regressions(self) -> list[FigureChange]:
        return [change for change in self.changes if change.regression]


def compare_reports(old: Mapping[str, Any], new: Mapping[str, Any]) -> Comparison:
    """Every figure of ``new`` against the same-named one of ``old``.

    A figure whose unit changed is compared as neither (listed as gone and new), since the
    ratio of two units means nothing.
    """
    old_figures, new_figures = old["figures"], new["figures"]
    changes, gone, fresh, unmeasured = [], [], [], []
    for name, figure in new_figures.items():
        before = old_figures.get(name)
        if before is None or before.get("unit") != figure["unit"]:
            fresh.append(name)
            continue
        if before["value"] is None or figure["value"] is None:
            unmeasured.append(name)
            continue
        better = figure.get("better") or better_direction(figure["unit"])
        changes.append(
            FigureChange(
                name, float(before["value"]), float(figure["value"]), figure["unit"], better
            )
        )
    for name, figure in old_figures.items():
        if name not in new_figures or new_figures[name]["unit"] != figure.get("unit"):
            gone.append(name)
    return Comparison(changes, gone, fresh, unmeasured)


def comparison_lines(comparison: Comparison, *, old_label: str) -> list[str]:
    """The printed comparison: a line per figure (ratio new/old, flagged when a regression),
    the unmatched figures, and the summary line ``N regressions over 10 %``."""
    width = max((len(c.name) for c in comparison.changes), default=20)
    lines = [f"compared with {old_label} (ratio = new / old; ↑ higher is better, ↓ lower is)"]
    for change in comparison.changes:
        arrow = "↑" if change.better == "higher" else "↓"
        flag = f"  REGRESSION {100 * change.worse:.0f} % worse" if change.regression else ""
        lines.append(
            f"{change.name:<{width}}  {change.old:>12.4g} → {change.new:<12.4g} {change.unit:<12}"
            f" {arrow} ×{change.ratio:.3f}{flag}"
        )
    lines += [f"{name:<{width}}  only in the new report" for name in comparison.new]
    lines += [f"{name:<{width}}  only in the old report" for name in comparison.gone]
    lines += [f"{name:<{width}}  not measured in one of them" for name in comparison.unmeasured]
    count = len(comparison.regressions)
    percent = round(100 * REGRESSION_THRESHOLD)
    lines.append(
        f"{count} regressions over {percent} % ({len(comparison.changes)} figures compared)"
    )
    return lines
