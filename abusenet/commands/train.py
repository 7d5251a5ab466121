"""``abusenet train``: train the detector on a graph snapshot, in one or several processes."""

from __future__ import annotations

from pathlib import Path

import typer

HELP = (
    "Train the GNN detector on a graph snapshot (`abusenet ingest`'s OUT/snapshot) and save it "
    "in MODEL_DIR, in the format `abusenet score --model` reads.\n\n"
    "With --nproc N, N processes train together (PyTorch DistributedDataParallel over gloo, on "
    "the CPU): each samples its share of every epoch's seed accounts and the gradients are "
    "averaged after every step, so all hold the same weights. Each process draws "
    "detector.batch_size seeds a step (the usual DDP convention: N times the global batch, N "
    "times fewer steps) at N times detector.lr (linear scaling): faster than one process's "
    "batch split N ways (a step's fixed cost is paid once per detector.batch_size seeds), "
    "and its held-out quality matched one process within seed noise on the tuning data. The "
    "graph is written once as memory-mapped files that all processes share, so it is in "
    "memory once however many processes run. Give each process its own "
    "cores: --nproc times --threads at most the machine's cores.\n\n"
    "Labels: --labels names a table (Parquet or CSV) with account_id, label (1 = abusive, "
    "0 = legitimate) and optionally ts (when the label became known: training is then "
    "time-aware); default: the snapshot's own labels.parquet. Trailing detector.KEY=VALUE "
    "arguments override the config's detector section, e.g. detector.max_epochs=5."
)


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""
    app.command(name="train", help=HELP)(train)


def train(
    snapshot: Path = typer.Option(
        ..., "--snapshot", "-s",
        help="A graph snapshot directory (OUT/snapshot of `abusenet ingest`).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write (created)."),
    labels: Path | None = typer.Option(
        None, "--labels", "-l",
        help="Labels table (.parquet or .csv: account_id, label[, ts]); default: the snapshot's.",
    ),
    nproc: int = typer.Option(
        1, "--nproc", min=1,
        help="Training processes (1 = this one), each drawing detector.batch_size seeds a step.",
    ),
    threads: int = typer.Option(1, "--threads", min=1, help="Torch threads per process."),
    graph_dir: Path | None = typer.Option(
        None, "--graph-dir",
        help="With --nproc > 1: where the shared graph files go (a temporary folder inside it, "
        "removed after; about 50 bytes per edge). Default: the system's temporary directory; "
        "/dev/shm keeps them in memory.",
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Run settings YAML; only its detector section is used."
    ),
    overrides: list[str] | None = typer.Argument(
        None, metavar="[detector.KEY=VALUE]...", show_default=False,
        help="Overrides of the config's detector section, e.g. detector.max_epochs=5.",
    ),
) -> None:
    """See :data:`HELP`."""
    from rich.console import Console
    from rich.markup import escape

    from abusenet.pipeline import ConfigError, load_run_config

    console = Console(stderr=True)
    try:
        settings = load_run_config(config, overrides)
        detector, trainer = _fit(snapshot, labels, settings.detector.model_dump(
            exclude_unset=True), nproc, threads, graph_dir)
    except (ConfigError, ValueError, FileNotFoundError) as err:
        console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    saved = detector.save(out)
    validation = detector.metrics_["validation"]
    lines = [
        f"model: {saved}",
        f"trained on {detector.metrics_['train_labels']:,} labels "
        f"({detector.metrics_['train_positives']:,} positive), "
        f"{_epochs(detector.metrics_)}, in {nproc} process(es) x {threads} thread(s)",
        f"validation ({detector.metrics_['val_labels']:,} labels): AUROC "
        f"{validation['auroc']:.3f}, AUPRC {validation['auprc']:.3f}",
    ]
    if trainer is not None:
        memory = ", ".join(
            f"rank {p['rank']} {p['rss']:.0f} MiB ({p['graph']:.0f} of it the shared graph)"
            for p in trainer.processes_
        )
        lines.append(f"resident memory per process: {memory}")
    typer.echo("\n".join(lines))


def _fit(
    snapshot_dir: Path,
    labels_file: Path | None,
    params: dict,
    nproc: int,
    threads: int,
    graph_dir: Path | None = None,
):
    """The fitted detector and the distributed trainer used (``None`` for one process)."""
    import pandas as pd

    from gnn.detector import AccountDetector
    from gnn.distributed import DistributedTrainer
    from graph.snapshot import read_snapshot

    snapshot = read_snapshot(snapshot_dir)
    if labels_file is None:
        if snapshot.labels is None:
            raise FileNotFoundError(
                f"{snapshot_dir} holds no labels.parquet; pass --labels FILE "
                "(account_id, label[, ts])"
            )
        labels = snapshot.labels
    elif labels_file.suffix == ".csv":
        labels = pd.read_csv(labels_file, dtype={"account_id": str})
    else:
        labels = pd.read_parquet(labels_file)
    trainer = DistributedTrainer(nproc, threads, graph_dir) if nproc > 1 else None
    if trainer is None:
        params = {"num_threads": threads, **params}
    detector = AccountDetector(**params).fit(snapshot, labels, trainer=trainer)
    return detector, trainer


def _epochs(metrics: dict) -> str:
    """The epochs trained, and over how many networks when an ensemble trained several."""
    networks = metrics.get("networks", 1)
    if networks == 1:
        return f"{metrics['epochs']} epochs"
    return f"{networks} networks, {metrics['epochs']} epochs in all"
