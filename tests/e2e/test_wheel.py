"""Someone installs Timbre Lab from its wheel (`pip install .`, not editable) and gets an app
with its starter models, icon and style sheet."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: What a wheel is built from; copied so that no build folder of the checkout leaks into it.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "synth_core", "app", "resources")

#: The starter models in the checkout's resources/models/.
SHIPPED = sorted(p.parent.name for p in (REPO / "resources" / "models").glob("*/model.json"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(REPO / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
         "--no-build-isolation", "-q", "-w", str(root / "dist")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (built,) = (root / "dist").glob("timbrelab-*.whl")
    return built


def test_the_wheel_carries_the_starter_models_icon_and_style_sheet(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert SHIPPED, "the checkout has no starter models to ship"
    for name in SHIPPED:
        for file in ("model.json", "weights.safetensors"):
            assert f"timbrelab_resources/models/{name}/{file}" in names
    assert "timbrelab_resources/icons/timbrelab.svg" in names
    assert "timbrelab_resources/style.qss" in names
    assert "synth_core/cli.py" in names and "app/launcher.py" in names


def test_an_installed_wheel_finds_its_starter_models_outside_the_checkout(wheel, tmp_path):
    """A fresh venv gets the wheel and nothing else; the heavy dependencies (torch, Qt) come
    from the project's venv through a .pth line, which adds the folder to sys.path without
    running the editable install's import hook there."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr

    probe = (
        "import json, synth_core, app.style as style\n"
        "from app.model_library import starter_models\n"
        "from synth_core.paths import resources_dir\n"
        "from synth_core.runs import open_model\n"
        "model = open_model(starter_models()[0].id)\n"
        "print(json.dumps({'code': synth_core.__file__, 'resources': str(resources_dir()),\n"
        "  'starters': [e.id for e in starter_models()], 'family': model.family,\n"
        "  'style': style.STYLE_SHEET.is_file(), 'icon': style.APP_ICON.is_file()}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    done = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["code"].startswith(site) and found["resources"].startswith(site)
    assert sorted(found["starters"]) == SHIPPED
    assert found["style"] and found["icon"] and found["family"]
