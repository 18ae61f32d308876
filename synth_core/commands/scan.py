"""``timbrelab scan``: which files of a folder training would use or skip, and why.

The scan itself is :func:`synth_core.dataset.scan`; this module draws its progress bar and prints
the report as a table (or JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from pathlib import Path

import numpy as np

from synth_core.dataset import Progress, ScanReport, printable_name, scan


def _display(path: Path, folder: Path) -> str:
    """A path relative to the scanned folder, as one escaped line (see :func:`printable_name`)."""
    try:
        text = path.relative_to(folder).as_posix()
    except ValueError:
        text = str(path)
    return printable_name(text)


def _text_width(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _text_width(text))


def format_report(report: ScanReport) -> str:
    """The human-readable table ``timbrelab scan`` prints."""
    lines = [f"Folder: {printable_name(report.folder)}", ""]
    if report.usable:
        names = [_display(item.path, report.folder) for item in report.usable]
        width = min(60, max(len("File"), *(_text_width(name) for name in names)))
        lines.append(f"USED ({len(report.usable)})")
        lines.append(
            f"  {'File':<{width}}  {'Length':>8}  {'Rate':>6}  {'Ch':>2}  {'Peak':>7}  Pitch"
            + ("  Note" if any(item.note for item in report.usable) else "")
        )
        for name, item in zip(names, report.usable, strict=True):
            peak = f"{20 * np.log10(item.peak):.1f}dB" if item.peak else "-"
            pitch = f"{item.pitch:g}" if item.pitch is not None else "-"
            lines.append(
                f"  {_pad(name, width)}  {item.duration:>7.3f}s  {item.sample_rate:>6}  "
                f"{item.channels:>2}  {peak:>7}  {pitch:<5}  {item.note}".rstrip()
            )
        lines.append("")
    if report.skipped:
        names = [_display(item.path, report.folder) for item in report.skipped]
        width = min(60, max(len("File"), *(_text_width(name) for name in names)))
        lines.append(f"SKIPPED ({len(report.skipped)})")
        lines.append(f"  {'File':<{width}}  Reason")
        for name, item in zip(names, report.skipped, strict=True):
            lines.append(f"  {_pad(name, width)}  {printable_name(item.reason)}")
        lines.append("")
    if not report.usable and not report.skipped:
        lines += ["No audio files found.", ""]
    lines.append(printable_name(report.summary()))
    return "\n".join(lines)


def cli_scan(args: argparse.Namespace) -> int:
    """``timbrelab scan DATA [--json] [--no-recursive]``: what would be used or skipped, and why.

    Exits 0 whenever the folder exists, even when every file in it is bad; a missing folder is a
    :class:`DatasetError` (exit 2, one line on stderr).
    """
    folder = Path(args.data)
    progress: Progress | None = None
    bar = None
    if not args.json and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=0, unit="file", desc="Scanning", leave=False, file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        report = scan(folder, recursive=not args.no_recursive, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(format_report(report) + "\n")
    return 0
