"""Data-parallel training on one machine: DistributedDataParallel over gloo, the graph held once.

:class:`DistributedTrainer` is a drop-in for :func:`gnn.training.train_model` (pass it as
``AccountDetector.fit(..., trainer=...)``). It writes the model view of the graph and the
sampler's CSR arrays once as ``.npy`` files, then starts ``nproc`` processes (``spawn``) that
memory-map them (``np.load(mmap_mode="r")``): the pages are the operating system's file cache,
shared by every process, so the graph is in memory once however many processes train. Each
process samples its own shard of every epoch's shuffled seeds; gradients are all-reduced by
DDP after each step, so every process holds the same weights. Each process draws
``batch_size`` seeds a step by default (``rank_batch="full"``, the usual DDP convention: an
``nproc`` times larger global batch, ``nproc`` times fewer steps an epoch) at ``nproc`` times
the learning rate (``scale_lr``, the linear scaling rule); ``rank_batch="split"`` draws
``batch_size // nproc`` at the same rate, the optimisation of one process, but pays every
step's fixed costs (~20 CPU ms) ``nproc`` times per global batch. On the tuning data
(benchmarks/README.md, "DDP batch per process") the held-out quality of full, with the scaled
rate or without, matched one process within seed noise, and full trains faster (1.63x one
process at 1M accounts, split 1.29x); without the scaled rate, full's half as many steps an
epoch ran into ``max_epochs`` on a small graph.
Validation is
sharded too, its logits gathered, so every process takes the same early-stopping decision; the
parent loads the best weights back and calibrates as usual.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.data import HeteroData
from torch_geometric.loader import NodeLoader

from gnn.evaluate import node_metrics
from gnn.inference import long_tensor, target_logits
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.sampler import TemporalNeighborSampler, _EdgeCSR
from gnn.training import EarlyStopping, Objective, Seeds, TrainingSettings, train_step

logger = logging.getLogger(__name__)

GRAPH_FILE = "graph.json"
SEEDS_FILE = "seeds.npz"
WEIGHTS_FILE = "trained.pt"
HISTORY_FILE = "history.json"
_CSR_ARRAYS = ("col", "eid", "rowptr", "key")
RANK_BATCHES = ("split", "full")


# ------------------------------------------------------------------------------ the shared graph
def write_shared_graph(
    data: HeteroData, sampler: TemporalNeighborSampler, directory: str | os.PathLike[str]
) -> Path:
    """Write ``data`` (a model view) and ``sampler``'s CSR arrays as ``.npy`` files.

    Returns
    -------
    Path
        ``directory``, readable by :func:`read_shared_graph`.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    layout: dict[str, Any] = {"nodes": {}, "edges": []}
    for t in data.node_types:
        np.save(root / f"x.{t}.npy", data[t].x.numpy())
        layout["nodes"][t] = int(data[t].num_nodes)
    for i, et in enumerate(data.edge_types):
        store = data[et]
        np.save(root / f"edge_index.{i}.npy", store.edge_index.numpy())
        if "edge_time" in store:
            np.save(root / f"edge_time.{i}.npy", store.edge_time.numpy())
        csr = sampler.csr[et]
        for name in _CSR_ARRAYS if csr.timed else _CSR_ARRAYS[:3]:
            np.save(root / f"csr.{i}.{name}.npy", getattr(csr, name))
        layout["edges"].append(
            {
                "type": list(et),
                "time": "edge_time" in store,
                "timed": csr.timed,
                "t_min": getattr(csr, "t_min", None),
                "span": getattr(csr, "span", None),
            }
        )
    (root / GRAPH_FILE).write_text(json.dumps(layout))
    return root


def _mapped(path: Path) -> torch.Tensor:
    with warnings.catch_warnings():
        # read-only pages on purpose: nothing writes into the graph
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.load(path, mmap_mode="r"))


def read_shared_graph(
    directory: str | os.PathLike[str], num_neighbors: list[int], seed: int | None = None
) -> tuple[HeteroData, TemporalNeighborSampler]:
    """The graph and a sampler over it, every array memory-mapped from :func:`write_shared_graph`.

    The sampler is the one written, rebuilt around the mapped CSR arrays instead of sorting the
    edges again (which would give every process its own copy); it draws with its own ``seed``.
    """
    root = Path(directory)
    layout = json.loads((root / GRAPH_FILE).read_text())
    data = HeteroData()
    for t, n in layout["nodes"].items():
        data[t].x = _mapped(root / f"x.{t}.npy")
        data[t].num_nodes = n
    sampler = object.__new__(TemporalNeighborSampler)
    sampler.num_nodes = dict(layout["nodes"])
    sampler.csr = {}
    for i, spec in enumerate(layout["edges"]):
        et = tuple(spec["type"])
        data[et].edge_index = _mapped(root / f"edge_index.{i}.npy")
        if spec["time"]:
            data[et].edge_time = _mapped(root / f"edge_time.{i}.npy")
        csr = object.__new__(_EdgeCSR)
        csr.timed = spec["timed"]
        for name in _CSR_ARRAYS if csr.timed else _CSR_ARRAYS[:3]:
            setattr(csr, name, np.load(root / f"csr.{i}.{name}.npy", mmap_mode="r"))
        if csr.timed:
            csr.t_min, csr.span = spec["t_min"], spec["span"]
        sampler.csr[et] = csr
    sampler.num_neighbors = {et: list(num_neighbors) for et in sampler.csr}
    sampler.num_hops = len(num_neighbors)
    sampler.rng = np.random.default_rng(seed)
    sampler._scratch = {}
    return data, sampler


# ------------------------------------------------------------------------------- the worker side
@dataclass(frozen=True)
class WorkerJob:
    """What every training process is given (pickled to it by ``spawn``)."""

    directory: str
    world_size: int
    num_neighbors: list[int]
    settings: TrainingSettings
    threads: int
    verify_sync: bool
    init_method: str
    rank_batch: str = "full"
    scale_lr: bool = True


def shard(count: int, rank: int, world_size: int, epoch: int, seed: int) -> np.ndarray:
    """This rank's positions of ``count`` seeds in epoch ``epoch``: one shuffle shared by all
    ranks, padded by repetition to a multiple of ``world_size`` so every rank runs as many
    steps, then dealt round-robin."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed + epoch)).numpy()
    padded = math.ceil(count / world_size) * world_size
    order = np.resize(order, padded) if count else order
    return order[rank::world_size]


def weight_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter's bytes, in ``state_dict`` order."""
    digest = hashlib.sha256()
    for value in model.state_dict().values():
        digest.update(value.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def memory_mib(graph_dir: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """This process's resident memory (MiB): total, anonymous (private), file-backed (shared
    libraries and the mapped graph), peak, and with ``graph_dir`` the resident pages of the
    files mapped from it (``graph``, shared by every process)."""
    fields = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "VmHWM": "peak"}
    out = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in fields:
                out[fields[key]] = int(value.split()[0]) / 1024
    if graph_dir is not None:
        prefix, inside, graph_kib = str(graph_dir), False, 0
        with open("/proc/self/smaps") as smaps:
            for line in smaps:
                head = line.split()
                if "-" in head[0] and len(head) >= 5:  # a mapping's header line
                    inside = len(head) >= 6 and head[5].startswith(prefix)
                elif inside and head[0] == "Rss:":
                    graph_kib += int(head[1])
        out["graph"] = graph_kib / 1024
    return out


def train_data_parallel(
    model: SepHeteroGNN,
    data: HeteroData,
    sampler: TemporalNeighborSampler,
    train: Seeds,
    val: Seeds,
    settings: TrainingSettings,
    *,
    verify_sync: bool = False,
    rank_batch: str = "full",
    scale_lr: bool = True,
) -> list[dict[str, float]]:
    """The training loop of one process of an initialised process group (any backend).

    As :func:`gnn.training.train_model`, with each epoch's seeds sharded across the group and
    the gradients all-reduced; returns the same history (loss and validation metrics of the
    whole group), plus ``seeds`` (trained on, all ranks) and, with ``verify_sync``,
    ``synced_steps``: steps after which every rank's :func:`weight_digest` was compared (a
    mismatch raises ``RuntimeError``). ``rank_batch``: ``"full"``, each rank draws
    ``batch_size`` seeds a step (a global batch ``world`` times larger, ``world`` times fewer
    steps per epoch: each rank's fixed per-step costs are paid once per ``batch_size`` seeds,
    as in one process); ``"split"``, each draws ``batch_size // world`` (the global batch and
    steps per epoch of one process). With ``"full"`` and ``scale_lr`` the learning rate is
    ``settings.lr * world`` (linear scaling for the ``world`` times larger global batch). Each
    history record also holds the ``lr`` used.
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    target = model.target_type
    # every parameter takes part in every step (EveryParameter), so DDP need not search the
    # autograd graph for unused ones after each forward (find_unused_parameters=False)
    ddp = DistributedDataParallel(EveryParameter(model))
    if rank_batch not in RANK_BATCHES:
        raise ValueError(f"rank_batch must be one of {RANK_BATCHES}, not {rank_batch!r}")
    if rank_batch == "full" and scale_lr:
        settings = dataclasses.replace(settings, lr=settings.lr * world)
    objective = Objective.build(ddp.parameters(), train, data[target].num_nodes, settings)
    per_rank_batch = settings.batch_size
    if rank_batch == "split":
        per_rank_batch = max(settings.batch_size // world, 1)
    metric = settings.early_stopping_metric
    stopping = EarlyStopping(settings.patience)
    history: list[dict[str, float]] = []
    for epoch in range(settings.max_epochs):
        started = time.perf_counter()
        mine = shard(len(train.index), rank, world, epoch, settings.random_state)
        loader = NodeLoader(
            data,
            sampler,
            input_nodes=(target, long_tensor(train.index[mine])),
            input_time=None if train.time is None else long_tensor(train.time[mine]),
            batch_size=per_rank_batch,
            shuffle=False,
        )
        ddp.train()
        totals = torch.zeros(3, dtype=torch.float64)  # loss x seeds, seeds, synced steps
        for batch in loader:
            loss, size = train_step(ddp, batch, sampler, target, objective)
            totals += torch.tensor([loss * size, size, 0.0], dtype=torch.float64)
            if verify_sync:
                _check_in_sync(model)
                totals[2] += 1.0 / world
        dist.all_reduce(totals)
        val_logits = val.logits(
            _gathered_val_logits(model, data, sampler, val, settings.chunk_size)
        )
        quality = node_metrics(val.y, val_logits)
        record = {
            "epoch": epoch,
            "loss": float(totals[0] / max(totals[1], 1.0)),
            "seconds": time.perf_counter() - started,
            "seeds": int(totals[1]),
            "lr": settings.lr,
            **quality,
        }
        if verify_sync:
            record["synced_steps"] = int(round(float(totals[2])))
        history.append(record)
        if rank == 0:
            logger.info("epoch %d: loss %.4f, validation %s %.4f",
                        epoch, record["loss"], metric, quality[metric])
        if stopping.update(model, epoch, quality[metric]):
            break
    stopping.restore(model)
    return history


class EveryParameter(torch.nn.Module):
    """``module`` whose output also depends, with weight zero, on every one of its parameters.

    The account network never uses some parameters (the last layer updates the target type
    only), so plain DDP would wait for their gradients forever, and
    ``find_unused_parameters=True`` walks the autograd graph after every forward to find them.
    Adding ``0 * sum(p[0] for every p)`` to the output leaves the output and the gradients of
    used parameters as they are and gives the others a zero gradient (AdamW's weight decay
    then shrinks those, which no output reads).
    """

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """``module(*args, **kwargs)`` plus a zero that every parameter takes part in."""
        out = self.module(*args, **kwargs)
        anchor = torch.stack([p.view(-1)[0] for p in self.module.parameters()]).sum()
        return out + 0.0 * anchor


def _check_in_sync(model: torch.nn.Module) -> None:
    """Raise unless every rank holds bitwise the same weights (gathered as one flat tensor)."""
    flat = torch.cat([v.detach().flatten().double() for v in model.state_dict().values()])
    gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    differing = [r for r, other in enumerate(gathered) if not torch.equal(other, gathered[0])]
    if differing:
        worst = max(float((g - gathered[0]).abs().max()) for g in gathered)
        raise RuntimeError(
            f"ranks {differing} hold other weights than rank 0 after a step "
            f"(largest difference {worst:.3g})"
        )


def _gathered_val_logits(
    model: SepHeteroGNN,
    data: HeteroData,
    sampler: TemporalNeighborSampler,
    val: Seeds,
    chunk_size: int,
) -> np.ndarray:
    """Validation logits of every rank's share, gathered in the original order on all ranks."""
    rank, world = dist.get_rank(), dist.get_world_size()
    parts = np.array_split(np.arange(len(val.index)), world)
    mine = parts[rank]
    logits = target_logits(
        model, data, sampler, val.index[mine],
        None if val.time is None else val.time[mine], chunk_size,
    )
    gathered: list[np.ndarray | None] = [None] * world
    dist.all_gather_object(gathered, logits)
    return np.concatenate(gathered) if len(val.index) else np.empty(0, dtype=np.float32)


def _worker(rank: int, job: WorkerJob, model: SepHeteroGNN) -> None:
    """One training process: join the group, map the graph, train, rank 0 writes the weights."""
    torch.set_num_threads(job.threads)
    root = Path(job.directory)
    dist.init_process_group(
        "gloo", init_method=job.init_method, rank=rank, world_size=job.world_size
    )
    try:
        data, sampler = read_shared_graph(
            root, job.num_neighbors, seed=job.settings.random_state + rank
        )
        seeds = np.load(root / SEEDS_FILE)
        train = Seeds(seeds["train_index"], seeds["train_y"], seeds.get("train_time"),
                      seeds.get("train_offset"))
        val = Seeds(seeds["val_index"], seeds["val_y"], seeds.get("val_time"),
                    seeds.get("val_offset"))
        # spawn hands the model over in shared memory: a private copy, or the ranks would all
        # step the same weights
        model = copy.deepcopy(model)
        torch.manual_seed(job.settings.random_state + rank)  # dropout differs per rank
        started = time.perf_counter()
        history = train_data_parallel(
            model, data, sampler, train, val, job.settings, verify_sync=job.verify_sync,
            rank_batch=job.rank_batch, scale_lr=job.scale_lr,
        )
        stats = {"rank": rank, "train_seconds": time.perf_counter() - started,
                 **memory_mib(root)}
        all_stats: list[dict | None] = [None] * job.world_size
        dist.all_gather_object(all_stats, stats)
        if rank == 0:
            torch.save(model.state_dict(), root / WEIGHTS_FILE)
            (root / HISTORY_FILE).write_text(
                json.dumps({"history": history, "processes": all_stats})
            )
    finally:
        dist.destroy_process_group()


# ------------------------------------------------------------------------------- the parent side
class DistributedTrainer:
    """Train in ``nproc`` processes with DDP over gloo; a :class:`gnn.training.Trainer`.

    Parameters
    ----------
    nproc
        Training processes (each samples its shard of the seeds).
    threads
        Torch threads per process.
    workdir
        Where the shared graph files go (a fresh temporary directory inside it, removed after);
        default: the system's temporary directory. A RAM-backed one (``/dev/shm``) avoids disk.
    verify_sync
        Compare every rank's weights after every step (slow; for tests).
    rank_batch
        ``"full"`` (default): each process draws ``batch_size`` seeds a step (``nproc`` times
        the global batch, ``nproc`` times fewer steps, the same learning rate; see
        :func:`train_data_parallel`); ``"split"``: each draws ``batch_size // nproc``, the
        optimisation of one process at ``nproc`` times the fixed cost per step.
    scale_lr
        With ``"full"``: train at ``nproc`` times the learning rate (the linear scaling rule for
        the ``nproc`` times larger global batch). On the tuning data (generated world of seed
        3, AMLSim's training half; ``python -m benchmarks.ddp --quality``) full matched one
        process's held-out quality within seed noise with it and without it; without it, 3 of
        5 AMLSim runs stopped at ``max_epochs`` (half the steps an epoch), with it none. Full
        is the faster (1.63x against 1.29x one process at 1M accounts).

    Attributes
    ----------
    processes_ : list[dict]
        After a call: per process ``rank``, ``train_seconds`` and resident memory in MiB
        (``rss``; ``anon``: private; ``file``: file-backed, shared libraries included; ``graph``:
        the mapped graph files, shared by all; ``peak``).
    seconds_ : float
        Wall seconds of the call: writing the graph, starting the processes, training.

    Examples
    --------
    >>> detector = AccountDetector().fit(snapshot, labels, trainer=DistributedTrainer(2))
    """

    def __init__(
        self,
        nproc: int = 2,
        threads: int = 1,
        workdir: str | os.PathLike[str] | None = None,
        verify_sync: bool = False,
        rank_batch: str = "full",
        scale_lr: bool = True,
    ) -> None:
        self.nproc = nproc
        self.threads = threads
        self.workdir = workdir
        self.verify_sync = verify_sync
        self.rank_batch = rank_batch
        self.scale_lr = scale_lr

    def __call__(
        self,
        model: SepHeteroGNN,
        data: HeteroData,
        sampler: TemporalNeighborSampler,
        train: Seeds,
        val: Seeds,
        settings: TrainingSettings,
        *,
        progress: bool = False,
    ) -> list[dict[str, float]]:
        """Train ``model`` in place across the processes; the history of the group.

        ``progress`` is accepted for the :class:`gnn.training.Trainer` signature; the processes
        log each epoch at INFO instead.
        """
        if self.nproc < 1 or self.threads < 1:
            raise ValueError(f"nproc and threads must be >= 1, not {self.nproc}, {self.threads}")
        if self.rank_batch not in RANK_BATCHES:
            raise ValueError(
                f"rank_batch must be one of {RANK_BATCHES}, not {self.rank_batch!r}"
            )
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="abusenet-ddp-", dir=self.workdir) as tmp:
            root = write_shared_graph(data, sampler, tmp)
            arrays = {"train_index": train.index, "train_y": np.asarray(train.y, np.float32),
                      "val_index": val.index, "val_y": np.asarray(val.y, np.float32)}
            if train.time is not None:
                arrays["train_time"] = train.time
            if val.time is not None:
                arrays["val_time"] = val.time
            if train.offset is not None:
                arrays["train_offset"] = np.asarray(train.offset, np.float32)
            if val.offset is not None:
                arrays["val_offset"] = np.asarray(val.offset, np.float32)
            np.savez(root / SEEDS_FILE, **arrays)
            job = WorkerJob(
                directory=str(root),
                world_size=self.nproc,
                num_neighbors=list(next(iter(sampler.num_neighbors.values()), [])),
                settings=settings,
                threads=self.threads,
                verify_sync=self.verify_sync,
                init_method=f"file://{root / 'rendezvous'}",
                rank_batch=self.rank_batch,
                scale_lr=self.scale_lr,
            )
            logger.info("training in %d processes (%d thread(s) each), graph in %s",
                        self.nproc, self.threads, root)
            mp.start_processes(_worker, args=(job, model), nprocs=self.nproc,
                               join=True, start_method="spawn")
            model.load_state_dict(torch.load(root / WEIGHTS_FILE, weights_only=True))
            result = json.loads((root / HISTORY_FILE).read_text())
        self.processes_ = result["processes"]
        self.seconds_ = time.perf_counter() - started
        return result["history"]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(nproc={self.nproc}, threads={self.threads}, "
            f"workdir={self.workdir!r}, verify_sync={self.verify_sync}, "
            f"rank_batch={self.rank_batch!r}, scale_lr={self.scale_lr})"
        )
