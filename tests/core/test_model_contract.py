"""The model contract is code: callers ask a model what it can do instead of probing it, every
family derives from the bases in ``synth_core/models/base.py``, and a new family is one file plus
one registry line (the toy family of ``tests/support/toy_family.py``) that the command line can
train and play."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from synth_core import checkpoint, cli
from synth_core.models import available_families, resolve_builtin
from synth_core.models.base import LearnerBase, SoundModel, TrainableModel

ROOT = Path(__file__).resolve().parents[2]
BASE_MODULE = ROOT / "synth_core" / "models" / "base.py"
MODEL_WORDS = ("model", "learner")


def probes_of_models(path: Path) -> list[str]:
    """``hasattr(x, …)`` / ``getattr(x, …)`` calls in ``path`` whose ``x`` names a model or a
    learner (``model``, ``self.learner``, ``family.model_class``, …), as ``file:line: code``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id not in ("hasattr", "getattr") or not node.args:
            continue
        names = [n.id for n in ast.walk(node.args[0]) if isinstance(n, ast.Name)]
        names += [n.attr for n in ast.walk(node.args[0]) if isinstance(n, ast.Attribute)]
        if any(word in name.lower() for name in names for word in MODEL_WORDS):
            where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
            found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_code_outside_the_base_module_probes_a_model_for_methods():
    files = sorted((ROOT / "synth_core").rglob("*.py")) + sorted((ROOT / "app").rglob("*.py"))
    assert len(files) > 40
    probes = [probe for path in files if path != BASE_MODULE for probe in probes_of_models(path)]
    assert probes == [], "ask the model (a SoundModel/LearnerBase member) instead:\n" + "\n".join(
        probes
    )


def test_the_probe_finder_sees_the_probes_it_forbids(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(model, args, self):\n"
        "    hasattr(model, 'encode')\n"
        "    getattr(self.learner, 'optimizer', None)\n"
        "    getattr(args, 'json', False)\n"
    )
    found = probes_of_models(sample)
    assert [line.split(": ", 1)[1] for line in found] == [
        "hasattr(model, 'encode')",
        "getattr(self.learner, 'optimizer', None)",
    ]


@pytest.mark.parametrize("family", available_families(), ids=lambda f: f.name)
def test_every_family_derives_from_both_bases_and_types_its_hooks(family):
    model_class = family.model_class
    assert issubclass(model_class, SoundModel) and issubclass(model_class, LearnerBase)
    assert issubclass(model_class, TrainableModel)
    assert not inspect.isabstract(model_class), model_class.__abstractmethods__
    assert issubclass(model_class.config_class().__class__, model_class.config_class)
    for hook in ("begin", "end"):
        annotation = str(inspect.signature(getattr(model_class, hook)).parameters["clips"])
        assert "Any" not in annotation and "ClipSet" in annotation, (hook, annotation)
    if issubclass(model_class, torch.nn.Module):
        mro = model_class.__mro__
        assert mro.index(TrainableModel) < mro.index(torch.nn.Module)


@pytest.mark.parametrize("family", available_families(), ids=lambda f: f.name)
def test_each_capability_flag_matches_what_the_family_really_offers(family):
    """The flags callers read are kept honest against the methods they stand for."""
    model_class = family.model_class
    generate = inspect.signature(model_class.generate).parameters
    reconstruct = inspect.signature(model_class.reconstruct).parameters
    assert model_class.variable_length == ("seconds" in generate)
    assert model_class.reconstructs_with_pitch == ("pitch" in reconstruct)
    for flag, method in [
        ("can_encode", "encode"),
        ("can_resynthesize", "resynthesize"),
        ("takes_primer", "set_primer"),
    ]:
        overridden = getattr(model_class, method) is not getattr(SoundModel, method)
        assert getattr(model_class, flag) == overridden, (flag, method)


def test_a_family_without_a_capability_says_so_through_the_base():
    instrument = resolve_builtin("physical:string")
    assert instrument is not None and not instrument.can_encode
    assert instrument.encode(torch.zeros(1, 4410)) is None
    assert instrument.values_from_audio(torch.zeros(4410)) is None
    assert not instrument.takes_primer
    with pytest.raises(Exception, match="cannot continue a recording"):
        instrument.set_primer(None)
    assert resolve_builtin("runs/my-run") is None and resolve_builtin("C:/runs/x") is None


@pytest.fixture
def toy_sounds(tmp_path: Path) -> Path:
    """Six short decaying tones at 16 kHz, peak 0.4."""
    folder = tmp_path / "sounds"
    folder.mkdir()
    t = np.arange(4000) / 16000
    for i in range(6):
        tone = 0.4 * np.sin(2 * np.pi * 220 * (i + 1) * t) * np.exp(-3 * t)
        sf.write(folder / f"tone{i}.wav", tone.astype(np.float32), 16000)
    return folder


def test_the_toy_family_trains_and_plays_from_the_command_line(toy_family, toy_sounds, tmp_path):
    run, out = tmp_path / "run", tmp_path / "out"
    settings = ["--set", "sample_rate=16000", "--set", "clip_seconds=0.25"]
    argv = ["train", str(toy_sounds), "--family", "toy", "--out", str(run), "--steps", "30"]
    assert cli.main([*argv, "--progress", "none", *settings]) == 0
    model = checkpoint.read_model(run)
    assert model.family == "toy" and checkpoint.read_record(run).step == 30
    assert 0.1 < float(model.state()["amplitude"]) <= 0.4  # from 0.1 towards the clips' peak

    argv = ["generate", str(run), "--n", "2", "--seed", "7", "--out", str(out)]
    assert cli.main([*argv, "--set", "noise=0.5", "--pitch", "64"]) == 0
    files = sorted(out.glob("*.wav"))
    assert len(files) == 2
    for i, path in enumerate(files):  # sound i is rendered alone with seed 7 + i
        expected = model.generate({"noise": 0.5}, n=1, seed=7 + i, pitch=64.0)[0].numpy()
        audio, rate = sf.read(path, dtype="float32")
        assert rate == 16000 and np.allclose(audio, expected, atol=1e-3)


def test_the_command_line_lists_the_toy_family_while_it_is_registered(toy_family, capsys):
    assert cli.main(["families", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    toy = next(row for row in rows if row["name"] == "toy")
    assert toy["defaults"]["learning_rate"] == 0.05
