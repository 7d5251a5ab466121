"""``run_pipeline``: check everything first, run the planned stages, publish at the end.

Order of work::

    preflight (inputs, mapping, labels, model, Neo4j login: before anything is written)
    the stages of :func:`abusenet.pipeline.plan.plan` (cached and resumable)
    publish (the contract files appear in DIR only when every stage has succeeded)

Each stage runs in a child process of its own (not with the Spark engine), so the run's peak
memory is its largest stage's.

Intermediate results live in ``DIR/.work/`` (one directory per stage, see
:mod:`abusenet.pipeline.cache`); :func:`abusenet.pipeline.outputs.publish` renames the contract
files into ``DIR``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from abusenet.pipeline.cache import StageCache
from abusenet.pipeline.errors import input_error, neo4j_error, stage_error
from abusenet.pipeline.outputs import MODEL_DIR, publish
from abusenet.pipeline.plan import plan
from abusenet.pipeline.preflight import preflight
from abusenet.pipeline.request import RunRequest
from abusenet.pipeline.runner import StageFailed, StageOutcome, StageRunner, can_fork
from abusenet.pipeline.stages.entities import ENTITY_MODEL
from abusenet.pipeline.stages.events import EVENT_MODEL, EVENT_SCORES
from abusenet.pipeline.stages.files import (
    ACCOUNT_SCORES,
    ENTITY_SCORES,
    EXPLANATIONS,
    METRICS,
    MODEL,
    QUARANTINE,
    REPORT,
    RINGS,
    SNAPSHOT,
)
from abusenet.validation.challenger import CHALLENGER_DIR, PUBLISHED_FILE


@dataclass
class RunResult:
    """What a finished run produced."""

    out_dir: Path
    outcomes: dict[str, StageOutcome]
    outputs: list[Path]
    seconds: float
    neo4j_uri: str | None = None
    browser_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def snapshot_dir(self) -> Path:
        """The graph snapshot the run built (in the work directory; kept for the next run)."""
        return self.outcomes["snapshot"].output_dir / SNAPSHOT

    def info(self, stage: str) -> dict[str, Any]:
        """The ``info`` of ``stage`` (empty when it did not run)."""
        outcome = self.outcomes.get(stage)
        return outcome.info if outcome else {}


def run_pipeline(request: RunRequest, console: Console | None = None) -> RunResult:
    """Run (or resume) the batch job described by ``request``.

    Returns
    -------
    RunResult
        Stage outcomes and published paths.

    Raises
    ------
    PipelineError
        With a one-paragraph message for the user; ``request.out_dir`` then holds no new or
        half-written contract file.
    """
    started = time.perf_counter()
    console = console or Console(stderr=True)
    mapping = preflight(request)
    cache = StageCache(request.work_dir)
    # Each stage in its own process, so memory one stage used is not held through the next;
    # not on Spark, whose session (a JVM) lives in the process that started it.
    runner = StageRunner(cache, console, force=request.force,
                         isolate=can_fork() and request.engine != "spark")
    try:
        outcomes = runner.run(plan(request, mapping, cache, runner))
    except StageFailed as failed:
        known = input_error(failed.error)
        if known is None and request.neo4j is not None:
            known = neo4j_error(failed.error, request.neo4j)
        raise (known or stage_error(failed.stage.name, failed.error, request.work_dir)) from None
    outputs = publish(_outputs(outcomes), request.out_dir)
    return RunResult(
        out_dir=request.out_dir,
        outcomes=outcomes,
        outputs=outputs,
        seconds=time.perf_counter() - started,
        neo4j_uri=request.neo4j.uri if request.neo4j else None,
        browser_url=request.browser_url if request.neo4j else None,
    )


def _outputs(outcomes: dict[str, StageOutcome]) -> dict[str, Path | None]:
    """Contract file name -> the stage output to publish as it (``None``: not made this run)."""

    def path(stage: str, name: str) -> Path | None:
        outcome = outcomes.get(stage)
        candidate = outcome.output_dir / name if outcome else None
        return candidate if candidate is not None and candidate.exists() else None

    return {
        ACCOUNT_SCORES: path("rings", ACCOUNT_SCORES),
        ENTITY_SCORES: path("entities", ENTITY_SCORES),
        EVENT_SCORES: path("events", EVENT_SCORES),
        RINGS: path("rings", RINGS),
        METRICS: path("risk_metrics", METRICS) or path("evaluate", METRICS),
        QUARANTINE: path("ingest", QUARANTINE),
        REPORT: path("report", REPORT),
        EXPLANATIONS: path("explain", EXPLANATIONS),
        MODEL_DIR: path("train", MODEL),
        # The event and entity models go inside model/, beside the detector.
        f"{MODEL_DIR}/{EVENT_MODEL}": path("events", EVENT_MODEL),
        f"{MODEL_DIR}/{ENTITY_MODEL}": path("entities", ENTITY_MODEL),
        # The challenger and the published candidate's name: what the model scores with.
        f"{MODEL_DIR}/{CHALLENGER_DIR}": path("challenger", CHALLENGER_DIR),
        f"{MODEL_DIR}/{PUBLISHED_FILE}": path("challenger", PUBLISHED_FILE),
    }
