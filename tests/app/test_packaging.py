"""The desktop entry, AppStream metainfo and PyInstaller spec agree with the project."""

from __future__ import annotations

import configparser
import tomllib
import xml.etree.ElementTree as ElementTree
from pathlib import Path

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
