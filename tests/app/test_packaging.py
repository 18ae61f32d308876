"""The desktop entry, AppStream metainfo and PyInstaller spec agree with the project, and the
desktop entry and metainfo pass the validators distributions run (desktop-file-validate,
appstreamcli)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
APP_ID = "io.github.timbrelab.TimbreLab"


def test_desktop_entry_launches_the_installed_command():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(PACKAGING / f"{APP_ID}.desktop", encoding="utf-8")
    desktop = entry["Desktop Entry"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert desktop["Type"] == "Application"
    assert desktop["Exec"].split()[0] in scripts
    assert desktop["Icon"] == APP_ID
    assert desktop["Categories"].endswith(";") and "Audio" in desktop["Categories"].split(";")
    assert (REPO / "resources" / "icons" / "timbrelab.svg").is_file()


def test_metainfo_names_the_desktop_entry_and_the_binary():
    root = ElementTree.parse(PACKAGING / f"{APP_ID}.metainfo.xml").getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"
    assert root.findtext("provides/binary") == "timbrelab"
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert root.find("releases/release").get("version") == version


def test_pyinstaller_spec_bundles_resources_and_uses_the_cli_entry():
    spec = (PACKAGING / "timbrelab.spec").read_text()
    compile(spec, "timbrelab.spec", "exec")  # at least valid Python
    assert '"resources"' in spec and "timbrelab_entry.py" in spec
    entry = (PACKAGING / "timbrelab_entry.py").read_text()
    assert "from app.launcher import main" in entry


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {package}; `make system-packages`)")
    return path


def test_desktop_entry_passes_desktop_file_validate():
    tool = _tool("desktop-file-validate", "desktop-file-utils")
    done = subprocess.run(
        [tool, str(PACKAGING / f"{APP_ID}.desktop")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_metainfo_passes_appstreamcli_and_shows_the_packaged_app():
    tool = _tool("appstreamcli", "appstream")
    metainfo = PACKAGING / f"{APP_ID}.metainfo.xml"
    done = subprocess.run(
        [tool, "validate", "--no-net", str(metainfo)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    shot = ElementTree.parse(metainfo).getroot().find("screenshots/screenshot[@type='default']")
    assert shot is not None and shot.findtext("caption")
    url = shot.findtext("image")
    assert url.startswith("https://") and url.endswith("/docs/screenshots/packaged_app.png")
    assert (REPO / "docs" / "screenshots" / "packaged_app.png").stat().st_size > 10_000
