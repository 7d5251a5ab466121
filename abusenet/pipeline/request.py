"""What a batch run is asked to do (:class:`RunRequest`), and which Neo4j it uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abusenet.pipeline.config import Neo4jConfig, RunConfig
from abusenet.pipeline.errors import PipelineError
from graph.store.connection import (
    Neo4jConfigError,
    Neo4jSettings,
    local_browser_url,
    resolve_neo4j_settings,
)
from graph.store.graphs import GraphNameError, default_graph_name, graph_name

#: The directory inside the output directory that keeps the stages' results between runs.
WORK_DIR = ".work"
#: The engines that can ingest logs and build the snapshot.
ENGINES = ("duckdb", "spark")


@dataclass
class RunRequest:
    """Everything one run needs.

    Attributes
    ----------
    inputs
        Log files, directories or glob patterns.
    mapping
        The mapping YAML.
    out_dir
        Where the contract files go.
    config
        Settings from :func:`abusenet.pipeline.config.load_run_config`.
    labels
        Optional account labels file; all of them are training labels (part held back for
        metrics).
    event_labels
        Optional event labels file (``--event-labels``): kept for the events of the logs, and
        account labels derived from them by ``labels.from_events``.
    entity_labels
        Optional entity labels file (``--entity-labels``): kept for the graph's entities.
    model_dir
        A saved detector to apply instead of training one (``abusenet score``); labels are then
        used for evaluation only.
    neo4j
        Where to load the graph and write results back; ``None`` runs without a server.
    browser_url
        The Neo4j Browser address to show, when known (the local server's).
    force
        Rerun every stage, ignoring cached results; also lets a prune delete more than
        ``neo4j.prune_max_fraction`` of the graph.
    graph
        The name of the run's graph in Neo4j (``--graph``); ``None``: derived from the output
        directory's name (:attr:`graph_name`).
    prune
        Delete the graph's nodes and relationships an earlier load wrote that this snapshot
        lacks (``--prune``); without it they stay.
    progress
        Show progress bars of the stages that have them.
    engine
        ``duckdb`` (one machine) or ``spark``: which engine ingests the logs and builds the
        snapshot (``--engine``).
    spark_master
        The Spark master URL of the Spark engine (``--spark-master``; default ``local[*]``).
    """

    inputs: list[str]
    mapping: Path
    out_dir: Path
    config: RunConfig
    labels: Path | None = None
    event_labels: Path | None = None
    entity_labels: Path | None = None
    model_dir: Path | None = None
    neo4j: Neo4jSettings | None = None
    browser_url: str | None = None
    force: bool = False
    graph: str | None = None
    prune: bool = False
    progress: bool = True
    engine: str = "duckdb"
    spark_master: str | None = None

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise PipelineError(f"--engine: {self.engine!r} is not one of {', '.join(ENGINES)}")
        try:
            graph_name(self.graph_name)
        except GraphNameError as exc:
            raise PipelineError(f"--graph: {exc}") from None

    @property
    def graph_name(self) -> str:
        """The run's graph in Neo4j: ``graph``, or derived from the output directory."""
        return self.graph or default_graph_name(self.out_dir)

    @property
    def work_dir(self) -> Path:
        """Intermediate results, kept for the next run (cache and resume)."""
        return self.out_dir / WORK_DIR


def neo4j_settings_for_run(
    config: Neo4jConfig | Mapping[str, Any], uri: str | None
) -> tuple[Neo4jSettings | None, str | None]:
    """The Neo4j a run uses, and its Browser address when known; ``(None, None)`` without one.

    A server is used only when ``uri`` (``--neo4j-uri``), ``NEO4J_URI`` or the config's
    ``neo4j.uri`` names one (never just because a local server is installed). ``local`` means
    the server ``abusenet neo4j install`` set up.

    Parameters
    ----------
    config
        The run config's ``neo4j`` section (a mapping is validated as one).
    uri
        ``--neo4j-uri``, if given.

    Raises
    ------
    PipelineError
        When ``local`` is asked for and no local server is installed.
    """
    section = Neo4jConfig.model_validate(config)
    try:
        settings = resolve_neo4j_settings(
            section.model_dump(include={"uri", "user", "database"}, exclude_none=True),
            uri=uri, local_fallback=False,
        )
    except Neo4jConfigError as exc:
        raise PipelineError(str(exc)) from None
    if settings is None:
        return None, None
    return settings, local_browser_url(settings)
