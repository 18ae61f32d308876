"""Data-parallel training over several processes with ``torch.distributed``.

``timbrelab train … --nproc N`` starts N copies of the command through torchrun's launcher
(:func:`launch`); each copy finds its rank and the world size in the environment torchrun sets
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``…) and joins the process group in :func:`init`: gloo
for tensors on the CPU, NCCL for tensors on CUDA. The same code runs across machines when
``torchrun --nnodes … --rdzv-backend c10d --rdzv-endpoint HOST:PORT -m synth_core.cli train …``
starts it (README).

Every helper here is a no-op in a single process, so the single-process path is unchanged.
Collectives wait at most :data:`TIMEOUT` for the other processes: one that died or hangs makes
the others raise :class:`~synth_core.errors.TrainingError` instead of waiting for ever.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from synth_core.errors import DeviceError, ModelConfigError, TrainingError

TIMEOUT = datetime.timedelta(seconds=60)
"""How long a collective waits for the other processes before the run fails."""

# the families that train over several processes: those that take gradient steps on shared
# weights (gan's latent table is kept the same in every process, see GANModel.step) and the EM
# ones, whose statistics are summed
PARALLEL_FAMILIES = ("cnn", "vae", "rnn", "gan", "gmm", "hmm")

SINGLE_PROCESS_REASONS = {
    "physical": (
        "its steps tune each clip's own matched settings (a per-clip table, with no weights "
        "shared between clips), so there is no gradient for the processes to average, and its "
        "sound matching before the first step, most of its training time, would run in every "
        "process"
    ),
}
"""Why a family outside :data:`PARALLEL_FAMILIES` trains in one process (for its refusal)."""


def useful_processes() -> tuple[int, str]:
    """How many local training processes are worth starting here, and why (for the app).

    One per GPU where there are several; otherwise one per two CPU cores where there are at
    least 4 (each process then has two threads); otherwise 1, as more processes would only
    share the same cores.
    """
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus > 1:
        return gpus, f"one process per GPU ({gpus} GPUs)"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    if gpus == 0 and cores >= 4:
        return cores // 2, f"{cores} CPU cores: up to one process per two cores"
    if gpus == 1:
        return 1, "one GPU: a second process would share it, which is slower"
    return 1, f"{cores} CPU cores: more processes would share them, which is slower"


def launched() -> bool:
    """True in a process that torchrun started as one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """True once this process is in a process group of more than one process."""
    return (
        torch.distributed.is_available()
        and torch.distributed.is_initialized()
        and torch.distributed.get_world_size() > 1
    )


def rank() -> int:
    """This process's rank (0 in a single process)."""
    return torch.distributed.get_rank() if active() else 0


def world_size() -> int:
    """How many processes train together (1 in a single process)."""
    return torch.distributed.get_world_size() if active() else 1


def local_world_size() -> int:
    """How many of them run on this machine (torchrun's ``LOCAL_WORLD_SIZE``)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if active() else 1


def is_main() -> bool:
    """True in the process that writes checkpoints, history and progress (rank 0)."""
    return rank() == 0


def init(device: str | None) -> str | None:
    """Join the process group torchrun described in the environment; returns the device this
    process trains on (``cuda:LOCAL_RANK`` where the run is on CUDA, else ``device``).

    A no-op returning ``device`` when torchrun did not start this process as one of several.
    """
    if not launched() or active():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    wants_cuda = (device or "").startswith("cuda") or (device is None and torch.cuda.is_available())
    if wants_cuda:
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {device} asked for, but CUDA is not available")
        here, gpus = int(os.environ.get("LOCAL_WORLD_SIZE", "1")), torch.cuda.device_count()
        if here > gpus:  # NCCL cannot put two processes on one GPU
            raise DeviceError(
                f"{here} training processes on this machine but {gpus} GPU(s); use "
                f"--nproc {gpus} (one process per GPU), or --device cpu"
            )
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(torch.device(device))
        backend = "cpu:gloo,cuda:nccl"  # the EM families reduce CPU tensors
    else:
        if (device or "").startswith("mps"):
            raise DeviceError(
                "several training processes cannot share MPS; use --device cpu with --nproc"
            )
        device = device or "cpu"  # gloo reduces CPU tensors (never MPS, picked by default)
        backend = "gloo"
    try:
        torch.distributed.init_process_group(backend=backend, timeout=TIMEOUT)
    except Exception as error:  # the rendezvous failed or timed out
        raise TrainingError(
            f"could not join the other training processes within {TIMEOUT.seconds} s "
            f"({first_line(error)}); check that every process was started with the same "
            "--rdzv-endpoint and that its port is reachable"
        ) from error
    return device


def shutdown() -> None:
    """Leave the process group (at the end of a run, so the next one starts clean)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def _collective(what: str, call: Callable[[], object]) -> None:
    """Run a collective, turning a peer that died or hangs into one clear error."""
    try:
        call()
    except RuntimeError as error:  # DistBackendError, gloo's "Connection closed by peer"…
        raise TrainingError(
            f"another training process stopped or did not answer (waited at most "
            f"{TIMEOUT.seconds} s) while {what} ({first_line(error)}); this process stops too. The last checkpoint "
            "is kept: resume the run with --resume"
        ) from error


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over every process, in place, and return it (unchanged in one process)."""
    if active():
        _collective("adding up statistics", lambda: torch.distributed.all_reduce(tensor))
    return tensor


def all_reduce_max(tensor: Tensor) -> Tensor:
    """The element-wise largest ``tensor`` over every process, in place."""
    if active():
        _collective(
            "agreeing when to stop",
            lambda: torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX),
        )
    return tensor


def broadcast_module(module: torch.nn.Module) -> None:
    """Give every process rank 0's parameters and buffers (what DDP does at construction)."""
    if not active():
        return
    for tensor in module.state_dict().values():
        _collective(
            "sharing the starting weights", lambda t=tensor: torch.distributed.broadcast(t, 0)
        )


def all_gather_rows(index: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """Every process's ``index`` ``[n]`` and ``rows`` ``[n, …]``, concatenated in rank order;
    this process's own in one process.

    For a per-clip table that each process updates for its share of a batch (gan's latents):
    after this every process can write the rows of the whole batch. Shares may differ in size
    (:func:`shard`), so each is padded to the largest before the gather.
    """
    if not active():
        return index, rows
    device = rows.device
    index = index.to(device=device, dtype=torch.long)
    count = torch.tensor([index.numel()], device=device)
    counts = [torch.zeros_like(count) for _ in range(world_size())]
    _collective("sharing per-clip rows", lambda: torch.distributed.all_gather(counts, count))
    sizes = [int(c) for c in counts]
    most = max(sizes)
    padded_index = index.new_zeros(most)
    padded_index[: index.numel()] = index
    padded_rows = rows.new_zeros((most, *rows.shape[1:]))
    padded_rows[: rows.shape[0]] = rows
    indexes = [torch.empty_like(padded_index) for _ in sizes]
    tables = [torch.empty_like(padded_rows) for _ in sizes]
    _collective(
        "sharing per-clip rows", lambda: torch.distributed.all_gather(indexes, padded_index)
    )
    _collective("sharing per-clip rows", lambda: torch.distributed.all_gather(tables, padded_rows))
    return (
        torch.cat([part[:n] for part, n in zip(indexes, sizes, strict=True)]),
        torch.cat([part[:n] for part, n in zip(tables, sizes, strict=True)]),
    )


def shard(count: int) -> slice:
    """This process's contiguous share of ``count`` items (all of them in one process).

    Shares differ in size by at most one; :class:`GradientSync` weights each process's
    gradient by its share, so the sum is the gradient of the whole batch's mean loss.
    """
    world = world_size()
    if world == 1:
        return slice(0, count)
    base, extra = divmod(count, world)
    r = rank()
    start = r * base + min(r, extra)
    return slice(start, start + base + (1 if r < extra else 0))


def check_family(family: str) -> None:
    """Refuse a family that does not train over several processes (before any is started)."""
    if family not in PARALLEL_FAMILIES:
        why = SINGLE_PROCESS_REASONS.get(family, "it has no data-parallel training")
        raise ModelConfigError(
            f"family {family!r} trains in one process: {why}. Train it without --nproc; these "
            f"train over several: {', '.join(PARALLEL_FAMILIES)}"
        )


def check_batch(batch_size: int, family: str) -> None:
    """Refuse a run whose batches cannot give every process at least one clip, or a family
    that does not train over several processes."""
    world = world_size()
    if world == 1:
        return
    check_family(family)
    if batch_size < world:
        raise ModelConfigError(
            f"a batch of {batch_size} clips cannot give each of {world} processes a clip; "
            f"use --nproc {batch_size} or fewer, or --set batch_size={world}"
        )


class GradientSync:
    """Averages gradients over the processes as backward produces them (DDP's semantics).

    Each parameter's gradient is weighted by this process's share of the global batch and
    summed over processes by a hook that runs when autograd has accumulated it; the reductions
    run while backward goes on, and a callback at the end of backward waits for them (as DDP
    does), so a family's own gradient clipping and optimiser step, which follow ``backward()``
    inside its ``step``, see the gradient of the whole batch, as in one process. ``comm_s`` is
    the time spent starting and waiting for those reductions (the scaling bench reports it).

    Why hooks and not ``torch.nn.parallel.DistributedDataParallel``: DDP arms its reducer in the
    wrapper's ``forward`` (it marks which parameters the coming backward will reach), so every
    network would have to be called through a wrapper. A family's ``step`` calls its own
    submodules (``encoder``, ``decoder``, the gan's ``critic``…) and owns its optimisers
    (``models/base.py``), so each family's ``step`` would have to be rewritten around wrappers,
    and the gan's would not fit one: its critic runs twice before one backward (real and drawn
    examples), which DDP's reducer refuses unless ``static_graph=True``, its generator step
    backpropagates through the critic, and its R1 penalty differentiates the critic twice
    (``autograd.grad(create_graph=True)``), which DDP supports only in part (pytorch issues
    63812 and 63929). What DDP would do is what this
    does: after each parameter's gradient is accumulated, an asynchronous ``all_reduce`` (SUM)
    of it, the wait for all of them in a callback queued on autograd's engine at the end of
    backward, and a scaling that makes the sum an average. Two differences, neither in the
    result: DDP packs gradients into ~25 MB buckets (fewer, larger messages; here one message
    per parameter tensor, which :attr:`comm_s` measures), and DDP divides by the world size
    where this weights by each process's share of the batch, which is the same 1/N when the
    batch divides evenly and the exact whole-batch mean when it does not.
    """

    def __init__(self, modules: Sequence[torch.nn.Module], share: Callable[[], float]) -> None:
        self.share = share
        self.comm_s = 0.0
        self.handles = []
        self.pending: list = []
        seen: set[int] = set()
        for module in modules:
            for parameter in module.parameters():
                if parameter.requires_grad and id(parameter) not in seen:
                    seen.add(id(parameter))
                    self.handles.append(parameter.register_post_accumulate_grad_hook(self._hook))

    def _hook(self, parameter: Tensor) -> None:
        grad = parameter.grad
        if grad is None:
            return
        grad.mul_(self.share())
        if not self.pending:  # the first gradient of this backward
            torch.autograd.Variable._execution_engine.queue_callback(self._wait)
        start = time.perf_counter()
        _collective(
            "averaging gradients",
            lambda: self.pending.append(torch.distributed.all_reduce(grad, async_op=True)),
        )
        self.comm_s += time.perf_counter() - start

    def _wait(self) -> None:
        """At the end of backward: every gradient is summed before ``backward()`` returns."""
        start = time.perf_counter()
        pending, self.pending = self.pending, []
        for work in pending:
            _collective("averaging gradients", work.wait)
        self.comm_s += time.perf_counter() - start

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []


def launch(nproc: int, child_argv: Sequence[str], *, threads: int | None = None) -> None:
    """Run ``python -m synth_core.cli CHILD_ARGV`` in ``nproc`` local processes through
    torchrun's launcher (``torch.distributed.run``) and wait for them.

    Raises
    ------
    TrainingError
        A process failed; the message names its rank and exit code (its own error line is on
        stderr above), and ``exit_code`` is that process's when it was 2 (bad input).
    """
    import logging

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    # the launcher logs each failure with its own prefix; the error raised below says it once
    if not logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # torchrun would set 1 and say so; a fair share of the cores each is what a CPU run wants
    os.environ.setdefault("OMP_NUM_THREADS", str(threads or max(1, (cores or 1) // nproc)))
    argv = ["--standalone", f"--nproc-per-node={nproc}", "--max-restarts=0"]
    argv += ["-m", "synth_core.cli", *child_argv]
    try:
        run(parse_args(argv))
    except SignalException:
        # SIGTERM/SIGINT (the app's Stop, Ctrl-C): the launcher passed it on and waited while
        # each process stopped after its step and rank 0 wrote the final checkpoint and "done"
        return
    except ChildFailedError as error:
        rank_, failure = error.get_first_failure()  # the one that failed first
        code = failure.exitcode
        described = (
            f"killed by signal {-code}" if code < 0 else f"exit code {code}; its message is above"
        )
        problem = TrainingError(
            f"training process {rank_} of {nproc} failed ({described}); the others were stopped"
        )
        if code == 2:
            problem.exit_code = 2
        raise problem from None
