"""Data-parallel scaling of vae training: clips per second with 1, 2 (…) processes.

    .venv/bin/python bench/scale.py [--steps 30] [--procs 1 2] [--batch 16] [--device cpu]

Each count of processes is one torchrun launch (``torch.distributed.run --standalone``) of this
script's worker, which trains the vae on the same synthetic sounds with the same global batch
(split over the processes, as ``timbrelab train --nproc N`` does) for ``--steps`` timed steps after
``--warmup`` untimed ones. Printed per count: clips/s, efficiency (clips/s over N × the
1-process figure) and the share of a step spent in the gradient all_reduce (the wait in the
reduction hooks; it includes waiting for the slower process, so it is communication plus
imbalance). On the CPU the processes share the machine's cores (each gets cores / N threads),
so the 1-process figure already uses every core: efficiency says what splitting the batch over
processes costs, not what more hardware gains.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RATE = 16000
SETTINGS = {"sample_rate": RATE, "clip_seconds": 0.5, "channels": 32, "latent_channels": 4}


def write_sounds(folder: Path, count: int = 48) -> None:
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(RATE // 2) / RATE
    for i in range(count):
        note = 40 + i % 36
        f0 = 440 * 2 ** ((note - 69) / 12)
        x = np.sin(2 * np.pi * f0 * t) * np.exp(-t * (3 + i % 7))
        x = (x + 0.05 * rng.standard_normal(t.size)) * 0.4
        sf.write(folder / f"s{i:02d}__p{note:03d}.wav", x.astype(np.float32), RATE)


def worker(args: argparse.Namespace) -> None:
    """One process of a launch: train, time the steps after the warm-up, rank 0 reports."""
    import torch

    from synth_core import distributed
    from synth_core.dataset import load_clips
    from synth_core.train import Budget, Callbacks, Trainer, build_learner

    device = distributed.init(args.device) or args.device
    clips = load_clips(args.data, sample_rate=RATE, seconds=SETTINGS["clip_seconds"], cache=False)
    torch.manual_seed(0)
    learner = build_learner("vae", settings=SETTINGS | {"batch_size": args.batch})
    marks: dict[str, float] = {}
    trainer: Trainer

    def step_done(step: int) -> None:
        if step == args.warmup:
            marks["start"], marks["comm_start"] = time.perf_counter(), trainer.comm_s
        elif step == args.warmup + args.steps:
            marks["end"], marks["comm_end"] = time.perf_counter(), trainer.comm_s

    trainer = Trainer(
        learner,
        clips,
        Budget(steps=args.warmup + args.steps),
        Callbacks(step_done=step_done),
        device=device,
        seed=0,
        preview_every_s=0,
        augment_data=False,
    )
    if args.threads_each:
        torch.set_num_threads(args.threads_each)
        trainer.threads = args.threads_each
    trainer.run()
    seconds = marks["end"] - marks["start"]
    comm = torch.tensor([marks["comm_end"] - marks["comm_start"]], dtype=torch.float64)
    distributed.all_reduce_sum(comm)
    world = distributed.world_size()
    # the reductions alone: the same per-parameter all_reduces, the processes lined up first by
    # a barrier, so no time is spent waiting for a slower one
    transfer_s = 0.0
    if world > 1:
        grads = [torch.zeros_like(p) for p in learner.parameters() if p.requires_grad]
        rounds = 10
        for _ in range(rounds):
            torch.distributed.barrier()
            start = time.perf_counter()
            for grad in grads:
                torch.distributed.all_reduce(grad)
            transfer_s += (time.perf_counter() - start) / rounds
    if distributed.is_main():
        result = {
            "processes": world,
            "threads_each": trainer.threads,
            "steps": args.steps,
            "batch": args.batch,
            "seconds": seconds,
            "clips_per_s": args.steps * args.batch / seconds,
            "comm_s_per_step": float(comm) / world / args.steps,
            "transfer_s_per_step": transfer_s,
            "parameters": sum(p.numel() for p in learner.parameters()),
            "step_s": seconds / args.steps,
        }
        Path(args.result).write_text(json.dumps(result))
    distributed.shutdown()


def launch(n: int, data: Path, args: argparse.Namespace) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result = Path(handle.name)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc-per-node={n}", str(Path(__file__).resolve()), "--worker"]
    command += ["--data", str(data), "--result", str(result), "--steps", str(args.steps)]
    command += ["--warmup", str(args.warmup), "--batch", str(args.batch)]
    command += ["--device", args.device, "--threads-each", str(args.threads_each or 0)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("OMP_NUM_THREADS", None)
    env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // n))
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    figures = json.loads(result.read_text())
    result.unlink()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16, help="global batch (clips a step)")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads-each",
        type=int,
        default=0,
        help="torch threads per process (default: the trainer's, cores / processes)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        write_sounds(data)
        rows = [launch(n, data, args) for n in args.procs]
    base = rows[0]["clips_per_s"] / rows[0]["processes"]
    print(
        f"vae, global batch {args.batch}, {args.steps} timed steps, device {args.device}, "
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{rows[-1]['parameters']} parameters; all_reduce = the wait in the gradient hooks")
    print(
        "processes  threads  step ms  clips/s  efficiency  all_reduce ms/step  share"
        "  transfer ms (barrier first)"
    )
    for row in rows:
        n = row["processes"]
        efficiency = row["clips_per_s"] / (n * base)
        comm_ms = 1000 * row["comm_s_per_step"]
        print(
            f"{n:>9}  {row['threads_each']:>7}  {1000 * row['step_s']:>7.1f}  "
            f"{row['clips_per_s']:>7.1f}  {efficiency:>10.2f}  {comm_ms:>18.1f}  "
            f"{comm_ms / (1000 * row['step_s']):>5.0%}  {1000 * row['transfer_s_per_step']:>27.1f}"
        )


if __name__ == "__main__":
    main()
