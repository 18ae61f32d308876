"""`timbrelab train --nproc 2`: two gloo processes on the CPU, started by torchrun's launcher,
train what one process trains with the same global batch, write one run directory (rank 0 only)
and hand it to a single process to resume.

Every process here computes with one thread whatever the machine: a one-process run is pinned
to one core, a two-process run to two cores (one each, by the trainer's fair share; to one core
where the machine has only one). Then the only difference between one process and two is the
order in which the gradient (or EM statistic) of the two halves of a batch is added up. Tolerances: 1e-5 on the
cnn's and the gan's network weights after 4 Adam steps (measured: 4e-8 for both), 1e-10 on
the gmm's and hmm's float64 parameters after 3 EM steps (measured: 3e-17 and 1e-13).

The spectral families keep 4 eigen-sounds (``pca_components``, as in their tiny test size):
with the default 32 and 12 clips the linear part alone rebuilds every training clip at step 0,
the loss (1.5e-6) is rounding noise that differs with how a batch is split, and Adam's first
step, about ``lr × sign(gradient)``, turns that noise into differences of ``lr``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from synth_core import checkpoint
from synth_core.progress import CheckpointEvent, DoneEvent, ProgressEvent, StartEvent, decode

RATE = 16000
pytestmark = pytest.mark.slow

CNN = ["--family", "cnn", "--set", f"sample_rate={RATE}", "--set", "clip_seconds=0.25"]
CNN += ["--set", "channels=16", "--set", "latent_channels=2", "--set", "n_controls=2"]
CNN += ["--set", "batch_size=4", "--set", "pca_components=4"]
GAN = ["--family", "gan", *CNN[2:], "--set", "hidden=16", "--set", "noise=4"]
GAN += ["--set", "neighbours=2", "--set", "gan_batch=4"]


def pinned(cores: int):
    """Run the child (and the processes it starts) on ``cores`` cores, or as many as there are."""
    chosen = set(sorted(os.sched_getaffinity(0))[:cores])
    return lambda: os.sched_setaffinity(0, chosen)


def timbrelab(*args: str) -> subprocess.CompletedProcess:
    processes = int(args[args.index("--nproc") + 1]) if "--nproc" in args else 1
    return subprocess.run(
        [sys.executable, "-m", "synth_core", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=pinned(processes),
    )


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sounds")
    t = np.arange(RATE // 4) / RATE
    rng = np.random.default_rng(0)
    for i in range(12):
        note = 50 + 2 * i
        f0 = 440 * 2 ** ((note - 69) / 12)
        x = (np.sin(2 * np.pi * f0 * t) + 0.1 * rng.normal(size=t.size)) * np.exp(-t * 8) * 0.4
        sf.write(folder / f"s{i:02d}__p{note:03d}.wav", x.astype(np.float32), RATE)
    return folder


def weights(run: Path) -> dict[str, torch.Tensor]:
    return checkpoint.read_weights(run)[0]


def test_two_processes_train_the_cnn_one_process_would_and_one_process_resumes_it(sounds, tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    both = timbrelab("train", str(sounds), "--out", str(two), *CNN, "--steps", "4",
                     "--nproc", "2", "--progress", "jsonl")  # fmt: skip
    assert both.returncode == 0, both.stderr
    single = timbrelab("train", str(sounds), "--out", str(one), *CNN, "--steps", "4",
                       "--progress", "none")  # fmt: skip
    assert single.returncode == 0, single.stderr

    # rank 0 alone reports: one start, one done, each step once
    events = [decode(line) for line in both.stdout.splitlines() if line.strip()]
    assert sum(isinstance(e, StartEvent) for e in events) == 1
    assert sum(isinstance(e, DoneEvent) for e in events) == 1
    assert [e.step for e in events if isinstance(e, ProgressEvent)][:4] == [1, 2, 3, 4]
    assert any(isinstance(e, CheckpointEvent) for e in events)

    # the networks match; end()'s slider axes are eigenvectors of an 11-sound covariance whose
    # tied eigenvalues make their directions arbitrary, so they are not compared
    a, b = weights(two), weights(one)
    learned = [k for k in a if k.startswith(("encoder.", "decoder."))]
    assert learned
    for name in learned:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-5, msg=name)
    assert not any(p.name.startswith(".") or p.suffix == ".tmp" for p in two.iterdir())
    assert checkpoint.read_record(two).step == 4

    # the checkpoint holds nothing of the processes: one process continues it
    resumed = timbrelab("train", str(sounds), "--out", str(two), "--family", "cnn",
                        "--resume", "--steps", "6", "--progress", "none")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert checkpoint.read_record(two).step == 6


def test_two_processes_train_the_gan_and_its_latent_table_one_process_would(sounds, tmp_path):
    """The autoencoder's gradients are averaged, the latent rows each process encodes are
    gathered into every process's table, and the GAN steps draw the same anchors and noise in
    every process: the GAN's weights then match one process's (without the gather they differ
    by up to 1e-3 after 4 steps)."""
    runs = {}
    for n in (1, 2):
        runs[n] = tmp_path / f"gan{n}"
        done = timbrelab("train", str(sounds), "--out", str(runs[n]), *GAN, "--steps", "4",
                         "--nproc", str(n), "--progress", "none")  # fmt: skip
        assert done.returncode == 0, done.stderr
    a, b = weights(runs[2]), weights(runs[1])
    prefixes = ("encoder.", "decoder.", "generator.", "generator_ema.", "critic.")
    learned = [k for k in a if k.startswith(prefixes)] + ["train_latents", "latent_shift"]
    assert {"critic.0.weight", "generator.0.weight"} <= set(learned)
    for name in learned:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-5, msg=name)
    assert checkpoint.read_record(runs[2]).step == 4
    assert not any(p.name.startswith(".") or p.suffix == ".tmp" for p in runs[2].iterdir())

    resumed = timbrelab("train", str(sounds), "--out", str(runs[2]), "--family", "gan",
                        "--resume", "--steps", "6", "--progress", "none")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert checkpoint.read_record(runs[2]).step == 6


@pytest.mark.parametrize(
    ("family", "learned"),
    [("gmm", ("weights", "means", "covariances")), ("hmm", ("means", "variances", "stay"))],
)
def test_two_processes_fit_the_same_em_model_as_one(sounds, tmp_path, family, learned):
    runs = {}
    for n in (1, 2):
        runs[n] = tmp_path / f"{family}{n}"
        done = timbrelab("train", str(sounds), "--out", str(runs[n]), "--family", family,
                         "--steps", "3", "--nproc", str(n), "--progress", "none")  # fmt: skip
        assert done.returncode == 0, done.stderr
    a, b = weights(runs[2]), weights(runs[1])
    assert set(a) == set(b)
    for name in learned:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-10, msg=name)
    assert checkpoint.read_record(runs[2]).step == 3


def test_physical_sound_matching_is_refused_with_its_reason(sounds, tmp_path):
    done = timbrelab("train", str(sounds), "--out", str(tmp_path / "p"), "--family", "physical",
                     "--steps", "2", "--nproc", "2", "--progress", "none")  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "no gradient for the processes to average" in done.stderr
    assert "Traceback" not in done.stderr
