"""``run_pipeline``: wire the stages of a batch run, check everything first, publish at the end.

Order of work::

    preflight (inputs, mapping, labels, model, Neo4j login: before anything is written)
    ingest -> snapshot -> [neo4j load] -> candidates -> labels -> train | (saved model)
           -> score -> rings -> [evaluate] -> [neo4j write-back] -> report -> publish

Intermediate results live in ``DIR/.work/`` (one directory per stage, see
:mod:`abusenet.pipeline.cache`); the contract files appear in ``DIR`` only when every stage has
succeeded (:func:`abusenet.pipeline.outputs.publish`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from abusenet.pipeline import stages as st
from abusenet.pipeline.cache import StageCache, files_fingerprint
from abusenet.pipeline.errors import PipelineError, input_error, neo4j_error, stage_error
from abusenet.pipeline.outputs import MODEL_DIR, publish
from abusenet.pipeline.runner import StageFailed, StageOutcome, StageRunner, StageSpec
from graph.store.connection import Neo4jSettings
from ingest.mapping import Mapping

WORK_DIR = ".work"

# The code each stage runs: editing the model reruns training and scoring, not ingest.
_PIPELINE = "abusenet/pipeline"
INGEST_CODE = ("ingest", "graph/snapshot.py", _PIPELINE)
SNAPSHOT_CODE = ("ingest", "graph/build.py", "graph/snapshot.py", _PIPELINE)
GRAPH_CODE = ("ingest", "graph", _PIPELINE)
MODEL_CODE = ("ingest", "graph", "gnn", _PIPELINE)


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
        Optional labels file; all of them are training labels (part held back for metrics).
    model_dir
        A saved detector to apply instead of training one (``abusenet score``); labels are then
        used for evaluation only.
    neo4j
        Where to load the graph and write results back; ``None`` runs without a server.
    browser_url
        The Neo4j Browser address to show, when known (the local server's).
    force
        Rerun every stage, ignoring cached results.
    progress
        Show progress bars of the stages that have them.
    """

    inputs: list[str]
    mapping: Path
    out_dir: Path
    config: dict[str, dict[str, Any]]
    labels: Path | None = None
    model_dir: Path | None = None
    neo4j: Neo4jSettings | None = None
    browser_url: str | None = None
    force: bool = False
    progress: bool = True

    @property
    def work_dir(self) -> Path:
        """Intermediate results, kept for the next run (cache and resume)."""
        return self.out_dir / WORK_DIR


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
        return self.outcomes["snapshot"].output_dir / st.SNAPSHOT

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
    runner = StageRunner(cache, console, force=request.force)
    specs = plan(request, mapping, cache, runner)
    try:
        outcomes = runner.run(specs)
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


# ----------------------------------------------------------------------------------- preflight
def preflight(request: RunRequest) -> Mapping:
    """Check inputs, mapping, labels, model and Neo4j before any file is written.

    Returns
    -------
    Mapping
        The loaded mapping.

    Raises
    ------
    PipelineError
        On the first problem found.
    """
    from ingest.labels import check_labels_file
    from ingest.mapping import check_source_columns, load_mapping
    from ingest.readers import resolve_inputs, source_columns

    if request.out_dir.exists() and not request.out_dir.is_dir():
        raise PipelineError(
            f"--out {request.out_dir} is a file; pass a directory (it is created if missing)"
        )
    if not request.mapping.is_file():
        raise PipelineError(
            f"mapping file {request.mapping} does not exist; pass --mapping the YAML that maps "
            "your log columns to abusenet's (configs/mappings/ has examples)"
        )
    try:
        mapping = load_mapping(request.mapping)
        files = resolve_inputs(request.inputs)
        for path in files:
            found = source_columns(path, header=mapping.header, delimiter=mapping.delimiter)
            check_source_columns(mapping, found, str(path))
        if request.labels is not None:
            if not request.labels.is_file():
                raise PipelineError(
                    f"labels file {request.labels} does not exist; pass --labels an existing "
                    "file with account ids and labels, or leave --labels out"
                )
            check_labels_file(request.labels, mapping)
    except PipelineError:
        raise
    except Exception as exc:
        known = input_error(exc)
        if known is None:
            raise
        raise known from None
    if request.model_dir is not None and not (request.model_dir / "metadata.json").is_file():
        raise PipelineError(
            f"--model {request.model_dir} holds no saved detector (metadata.json is missing); "
            f"pass the {MODEL_DIR}/ directory of an earlier `abusenet run --out DIR`"
        )
    if request.neo4j is not None:
        check_neo4j(request.neo4j)
    return mapping


def check_neo4j(settings: Neo4jSettings) -> None:
    """Log in to Neo4j once, or raise :class:`PipelineError` saying how to fix it."""
    import neo4j

    try:
        with neo4j.GraphDatabase.driver(
            settings.uri, auth=settings.auth, connection_timeout=10.0
        ) as driver:
            driver.verify_connectivity()
            driver.execute_query("RETURN 1", database_=settings.database)
    except Exception as exc:
        known = neo4j_error(exc, settings)
        if known is None:
            raise PipelineError(
                f"cannot use Neo4j at {settings.uri}: {type(exc).__name__}: {exc}. Check "
                "NEO4J_URI / --neo4j-uri, or run without Neo4j by leaving them out."
            ) from None
        raise known from None


# ---------------------------------------------------------------------------------------- plan
def plan(
    request: RunRequest, mapping: Mapping, cache: StageCache, runner: StageRunner
) -> list[StageSpec]:
    """The stages of ``request``, in order, each reading its upstream stages' output dirs."""
    cfg = request.config
    out = cache.output_dir
    events = out("ingest") / st.EVENTS
    snapshot = out("snapshot") / st.SNAPSHOT
    candidates = out("candidates") / st.CANDIDATES
    labels_dir = out("labels")
    have_labels = request.labels is not None
    training = request.model_dir is None and have_labels
    # No labels and no saved model: rings and scores come from structure alone.
    model = request.model_dir or (out("train") / st.MODEL if training else None)
    from ingest.readers import resolve_inputs

    specs = [
        StageSpec(
            "ingest", "ingest logs",
            lambda tmp: st.ingest_stage(
                request.inputs, mapping, request.labels, tmp,
                max_bad_fraction=cfg["ingest"]["max_bad_fraction"], progress=request.progress,
            ),
            key={
                "inputs": files_fingerprint(resolve_inputs(request.inputs)),
                "labels": files_fingerprint([request.labels]) if have_labels else None,
                "mapping": mapping.fingerprint(),
                "settings": cfg["ingest"],
            },
            spinner=False, code=INGEST_CODE,
            describe=lambda i: (f"{i['rows_in']:,} rows in, {i['accepted']:,} accepted, "
                                f"{i['quarantined']:,} quarantined, {i['duplicates']:,} "
                                "duplicates"),
        ),
        StageSpec(
            "snapshot", "build graph snapshot",
            lambda tmp: st.snapshot_stage(events, mapping, tmp, progress=request.progress),
            key={"mapping": mapping.fingerprint()}, after=("ingest",), spinner=False,
            code=SNAPSHOT_CODE,
            describe=lambda i: (f"{sum(i['nodes'].values()):,} nodes, "
                                f"{sum(i['relationships'].values()):,} relationships"),
        ),
    ]
    if request.neo4j is not None:
        specs.append(_neo4j_load_spec(request, snapshot))
    specs.append(StageSpec(
        "candidates", "find ring candidates",
        lambda tmp: st.candidates_stage(snapshot, cfg["rings"], tmp),
        key=cfg["rings"], after=("snapshot",), code=GRAPH_CODE,
        describe=lambda i: f"{i['candidates']:,} candidates",
    ))
    if have_labels:
        holdout = cfg["labels"]["holdout_fraction"] if training else 0.0
        specs.append(StageSpec(
            "labels", "split labels",
            lambda tmp: st.labels_stage(
                snapshot, tmp, holdout_fraction=holdout, seed=cfg["labels"]["seed"],
                unlabelled_as_negative=cfg["labels"]["unlabelled_as_negative"],
            ),
            key={**cfg["labels"], "holdout_fraction": holdout}, after=("snapshot",),
            code=GRAPH_CODE,
            describe=lambda i: (f"{i['labels']:,} labels ({i['positives']:,} abusive): "
                                f"{i['train']:,} for training, {i['holdout']:,} held back"),
        ))
    if training:
        specs.append(StageSpec(
            "train", "train the detector",
            lambda tmp: st.train_stage(snapshot, labels_dir / st.TRAIN_LABELS, cfg["detector"],
                                       tmp),
            key=cfg["detector"], after=("snapshot", "labels"), code=MODEL_CODE,
            describe=lambda i: f"model {i['model_version']}",
        ))
    specs += [
        StageSpec(
            "score", "score accounts and entities",
            lambda tmp: st.score_stage(snapshot, model, tmp),
            key=None if training else {"model": files_fingerprint([model])},
            after=("snapshot", "train") if training else ("snapshot",), code=MODEL_CODE,
            describe=lambda i: (f"{i['accounts']:,} accounts, {i['entities']:,} entities, "
                                f"{i['accounts_above_0_5']:,} accounts at score >= 0.5"),
        ) if model is not None else StageSpec(
            "score", "score accounts and entities by ring structure (no labels)",
            lambda tmp: st.structure_score_stage(snapshot, candidates, cfg["ring_scoring"], tmp),
            key=cfg["ring_scoring"], after=("snapshot", "candidates"), code=MODEL_CODE,
            describe=lambda i: (f"{i['accounts']:,} accounts, {i['entities']:,} entities, "
                                f"{i['accounts_above_0_5']:,} accounts at score >= 0.5"),
        ),
        StageSpec(
            "rings", "score rings",
            lambda tmp: st.rings_stage(candidates, out("score") / st.ACCOUNT_SCORES,
                                       cfg["ring_scoring"], tmp),
            key=cfg["ring_scoring"], after=("candidates", "score"), code=MODEL_CODE,
            describe=lambda i: f"{i['rings']:,} rings, {i['accounts_in_rings']:,} accounts in one",
        ),
    ]
    evaluation = _evaluation_labels(request, labels_dir)
    if evaluation is not None:
        specs.append(StageSpec(
            "evaluate", "evaluate on held-back labels",
            lambda tmp: st.evaluate_stage(
                out("rings") / st.ACCOUNT_SCORES, out("rings") / st.RINGS, evaluation, tmp,
                training=_training_metrics(cache) if training else None,
                what="held-back labels" if training else "all given labels (model not retrained)",
            ),
            after=("labels", "rings", *(("train",) if training else ())), code=MODEL_CODE,
            describe=lambda i: (f"AUROC {_fmt(i['accounts']['auroc'])}, "
                                f"AUPRC {_fmt(i['accounts']['auprc'])} on {i['labels']:,} labels"),
        ))
    explaining = model is not None and cfg["report"]["explain_members"] > 0
    if explaining:
        specs.append(StageSpec(
            "explain", "explain the top rings' riskiest members",
            lambda tmp: st.explain_stage(
                snapshot, model, out("rings") / st.RINGS, out("rings") / st.ACCOUNT_SCORES, tmp,
                rings=cfg["report"]["top_rings"], members=cfg["report"]["explain_members"],
            ),
            key={k: cfg["report"][k] for k in ("top_rings", "explain_members")},
            # "rings" chains "score", whose key covers the trained or given model.
            after=("snapshot", "rings"), code=MODEL_CODE,
            describe=lambda i: (f"{i['accounts']:,} accounts explained" if not i["skipped"]
                                else f"skipped ({i['skipped']})"),
        ))
    if request.neo4j is not None:
        specs.append(_neo4j_write_spec(request, out, model))
    specs.append(StageSpec(
        "report", "write report.html",
        lambda tmp: st.report_stage(
            tmp,
            title=f"abusenet report: {request.out_dir.name}",
            run_facts=_run_facts(request, cache),
            ingest=cache.info("ingest"),
            graph=cache.info("snapshot"),
            stages=[(o.title, o.seconds, o.cached) for o in runner.outcomes.values()],
            snapshot_dir=snapshot,
            account_scores_path=out("rings") / st.ACCOUNT_SCORES,
            entity_scores_path=out("score") / st.ENTITY_SCORES,
            rings_path=out("rings") / st.RINGS,
            evaluation_labels=evaluation,
            metrics_path=out("evaluate") / st.METRICS if evaluation is not None else None,
            explanations_path=out("explain") / st.EXPLANATIONS if explaining else None,
            neo4j=None if request.neo4j is None else {
                "uri": request.neo4j.uri, "browser_url": request.browser_url or "",
            },
            top_rings=cfg["report"]["top_rings"],
            top_entities=cfg["report"]["top_entities"],
        ),
        key={"report": cfg["report"], "browser": request.browser_url,
             "neo4j": request.neo4j.uri if request.neo4j else None},
        after=tuple(s.name for s in specs),
    ))
    return specs


def _evaluation_labels(request: RunRequest, labels_dir: Path) -> Path | None:
    if request.labels is None:
        return None
    if request.model_dir is not None:
        return labels_dir / st.TRAIN_LABELS
    if request.config["labels"]["holdout_fraction"] <= 0:
        return None
    return labels_dir / st.HOLDOUT_LABELS


def _training_metrics(cache: StageCache) -> dict[str, Any] | None:
    return cache.info("train").get("metrics")


def _run_facts(request: RunRequest, cache: StageCache) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "inputs": request.inputs,
        "mapping": str(request.mapping),
        "labels": str(request.labels) if request.labels else "none",
        "output directory": str(request.out_dir),
    }
    if request.model_dir is None:
        facts["model"] = f"trained in this run: {cache.info('train').get('model_version')}"
        split = cache.info("labels")
        facts["labels used"] = (f"{split.get('train', 0):,} for training, "
                                f"{split.get('holdout', 0):,} held back for evaluation")
    else:
        facts["model"] = f"{request.model_dir} ({cache.info('score').get('model_version')})"
    if request.neo4j is not None:
        facts["Neo4j"] = f"{request.neo4j.uri} (database {request.neo4j.database})"
    return facts


def _neo4j_load_spec(request: RunRequest, snapshot: Path) -> StageSpec:
    settings = request.neo4j
    return StageSpec(
        "neo4j_load", "load the graph into Neo4j",
        lambda tmp: st.neo4j_load_stage(
            settings, snapshot, mode=request.config["neo4j"]["load_mode"],
            progress=request.progress,
        ),
        key={"uri": settings.uri, "database": settings.database},
        after=("snapshot",), spinner=False, always=True,
        describe=lambda i: (f"{i['written']:,} nodes and relationships written, "
                            f"{i['unchanged']:,} unchanged ({i['mode']})"),
    )


def _neo4j_write_spec(
    request: RunRequest, out: Callable[[str], Path], model: Path | None
) -> StageSpec:
    settings = request.neo4j
    return StageSpec(
        "neo4j_write", "write scores and rings to Neo4j",
        lambda tmp: st.writeback_stage(
            settings, out("rings") / st.ACCOUNT_SCORES, out("score") / st.ENTITY_SCORES,
            out("rings") / st.RINGS, st.model_version(model),
        ),
        key={"uri": settings.uri, "database": settings.database},
        after=("rings", "neo4j_load"), always=True,
        describe=lambda i: ", ".join(f"{v:,} {k}" for k, v in i.items()),
    )


def _outputs(outcomes: dict[str, StageOutcome]) -> dict[str, Path | None]:
    def path(stage: str, name: str) -> Path | None:
        outcome = outcomes.get(stage)
        candidate = outcome.output_dir / name if outcome else None
        return candidate if candidate is not None and candidate.exists() else None

    return {
        "account_scores.parquet": path("rings", st.ACCOUNT_SCORES),
        "entity_scores.parquet": path("score", st.ENTITY_SCORES),
        "rings.parquet": path("rings", st.RINGS),
        "metrics.json": path("evaluate", st.METRICS),
        "quarantine.parquet": path("ingest", st.QUARANTINE),
        "report.html": path("report", st.REPORT),
        st.EXPLANATIONS: path("explain", st.EXPLANATIONS),
        MODEL_DIR: path("train", st.MODEL),
    }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def neo4j_settings_for_run(
    config: dict[str, Any], uri: str | None
) -> tuple[Neo4jSettings | None, str | None]:
    """The Neo4j a run uses, and its Browser address when known; ``(None, None)`` without one.

    A server is used when ``uri`` (``--neo4j-uri``), ``NEO4J_URI`` or the config's
    ``neo4j.uri`` names one. ``local`` means the server ``abusenet neo4j install`` set up.
    """
    from graph.store.connection import default_neo4j_home, resolve_neo4j_settings
    from graph.store.server.local import LocalNeo4j

    wanted = uri or os.environ.get("NEO4J_URI") or config.get("uri")
    if not wanted:
        return None, None
    local = LocalNeo4j(default_neo4j_home())
    local_settings = local.read_settings() if local.is_installed() else None
    if wanted == "local":
        if local_settings is None:
            raise PipelineError(
                f"--neo4j-uri local: no local Neo4j is installed in {local.home}; run "
                "`abusenet neo4j install` and `abusenet neo4j start` (or `make neo4j-start`) "
                "first, or pass the bolt:// URI of your own server"
            )
        wanted = local_settings["uri"]
    section = {k: v for k, v in config.items() if k in ("user", "database") and v}
    settings = resolve_neo4j_settings(section, uri=wanted)
    browser = None
    if local_settings is not None and settings.uri == local_settings["uri"]:
        browser = f"http://127.0.0.1:{local_settings['http_port']}/browser/"
    return settings, browser
