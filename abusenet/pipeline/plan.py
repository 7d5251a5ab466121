"""The stages of a batch run, in order: each declared once, by a function of the planned run.

Each stage function returns the :class:`~abusenet.pipeline.runner.StageSpec` of that stage for
this run (its name, the stages it reads, the code and settings that key its cache, the function
it runs), or ``None`` when the run does not need it::

    ingest -> snapshot -> [neo4j_load] -> candidates -> [labels] -> [train]
           -> score (with a model, or by ring structure) -> [challenger] -> [serve_start]
           -> rings -> [evaluate] -> [explain]
           -> [neo4j_write] -> report (reads every stage before it)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from abusenet.pipeline.cache import StageCache, files_fingerprint
from abusenet.pipeline.config import RunConfig
from abusenet.pipeline.request import RunRequest
from abusenet.pipeline.runner import StageRunner, StageSpec
from abusenet.pipeline.stages import (
    data,
    detect,
    entities,
    events,
    labels,
    neo4j,
    report,
    risk_metrics,
    validation,
)
from abusenet.pipeline.stages.files import (
    ACCOUNT_SCORES,
    CANDIDATES,
    ENTITY_LABELS,
    ENTITY_SCORES,
    EVENT_LABELS,
    EVENTS,
    EXPLANATIONS,
    HOLDOUT_LABELS,
    METRICS,
    MODEL,
    RINGS,
    SNAPSHOT,
    TRAIN_LABELS,
)
from abusenet.validation.config import ValidationConfig
from ingest.mapping import Mapping

# The code each stage runs: editing the model reruns training and scoring, not ingest. Patterns
# (graph/snapshot*.py: snapshot.py, snapshot_sql.py, snapshot_labels.py) keep covering a module
# split into more files.
_PIPELINE = "abusenet/pipeline"
INGEST_CODE = ("ingest", _PIPELINE)
SNAPSHOT_CODE = ("ingest", "graph/build.py", "graph/manifest.py", "graph/snapshot*.py", _PIPELINE)
GRAPH_CODE = ("ingest", "graph", _PIPELINE)
MODEL_CODE = ("ingest", "graph", "gnn", _PIPELINE)


@dataclass(frozen=True)
class PlannedRun:
    """A request being planned: its settings, and where each stage's outputs will be."""

    request: RunRequest
    mapping: Mapping
    cache: StageCache
    runner: StageRunner

    @property
    def config(self) -> RunConfig:
        """The run's settings."""
        return self.request.config

    @property
    def validation(self) -> ValidationConfig:
        """The validation settings, with no out-of-time window when the logs have no times
        (``timestamps: {missing: row_order}``): their "latest" labels would be the file's last
        lines (one restaurant's reviewers in YelpChi sorted by product), not the newest."""
        settings = self.config.validation
        if self.mapping.row_order_times:
            return settings.model_copy(update={"out_of_time_days": 0.0})
        return settings

    def output(self, stage: str, name: str) -> Path:
        """The file or directory ``name`` in ``stage``'s output directory."""
        return self.cache.output_dir(stage) / name

    @property
    def account_labels(self) -> bool:
        """Whether the run has account labels: given (``--labels``), or derived from event
        labels (``--event-labels`` with ``labels.from_events`` other than ``none``)."""
        return self.request.labels is not None or (
            self.request.event_labels is not None and self.config.labels.from_events != "none"
        )

    @property
    def any_labels(self) -> bool:
        """Whether any labels were given: accounts, events or entities."""
        request = self.request
        return any(p is not None for p in (request.labels, request.event_labels,
                                           request.entity_labels))

    @property
    def training(self) -> bool:
        """Whether the run trains a detector (account labels, no saved model)."""
        return self.request.model_dir is None and self.account_labels

    @property
    def event_labels(self) -> Path | None:
        """The matched event labels (``event_id, account_id, ts, label, known_at``; one row per
        labelled event of the graph, ``label`` 1 = fraudulent, ``known_at`` when it became
        known, maybe null), written by the labels stage; ``None`` without ``--event-labels``.
        Every matched label, none held back: a model reading them makes its own (time) split."""
        return self.output("labels", EVENT_LABELS) if self.request.event_labels else None

    @property
    def entity_labels(self) -> Path | None:
        """The matched entity labels (``node_type, entity_id, label, known_at``; one row per
        labelled node of the graph), written by the labels stage; ``None`` without
        ``--entity-labels``. Every matched label, none held back."""
        return self.output("labels", ENTITY_LABELS) if self.request.entity_labels else None

    @property
    def model(self) -> Path | None:
        """The detector that scores: the saved one, the trained one, or none (no labels)."""
        if self.request.model_dir is not None:
            return self.request.model_dir
        return self.output("train", MODEL) if self.training else None

    @property
    def evaluation_labels(self) -> Path | None:
        """The account labels the run measures the scores on, if any."""
        if not self.account_labels:
            return None
        if self.request.model_dir is not None:
            return self.output("labels", TRAIN_LABELS)
        if self.config.labels.holdout_fraction <= 0:
            return None
        return self.output("labels", HOLDOUT_LABELS)

    @property
    def explaining(self) -> bool:
        """Whether the model explains the top rings' riskiest members."""
        return self.model is not None and self.config.report.explain_members > 0

    @property
    def snapshot(self) -> Path:
        """The graph snapshot."""
        return self.output("snapshot", SNAPSHOT)

    @property
    def event_model(self) -> Path | None:
        """The saved event model a run with ``--model`` applies (``<model>/events``), if any."""
        model_dir = self.request.model_dir
        if model_dir is None or not (model_dir / events.EVENT_MODEL).is_dir():
            return None
        return model_dir / events.EVENT_MODEL

    @property
    def entity_model(self) -> Path | None:
        """The saved entity model a run with ``--model`` applies (``<model>/entities``), if
        any."""
        model_dir = self.request.model_dir
        if model_dir is None or not (model_dir / entities.ENTITY_MODEL).is_dir():
            return None
        return model_dir / entities.ENTITY_MODEL

    @property
    def training_entities(self) -> bool:
        """Whether the run trains the entity model: entity or event labels, no saved model."""
        return self.request.model_dir is None and (
            self.request.entity_labels is not None or self.request.event_labels is not None)

    @property
    def risk_metrics(self) -> bool:
        """Whether an event or entity model runs, so that ``metrics.json`` gains its sections."""
        return (self.event_labels is not None and self.request.model_dir is None
                or self.event_model is not None or self.entity_model is not None
                or self.training_entities)

    @property
    def metrics(self) -> Path | None:
        """The run's ``metrics.json``: the risk metrics stage's, else the evaluate stage's."""
        if self.risk_metrics:
            return self.output("risk_metrics", METRICS)
        return self.output("evaluate", METRICS) if self.evaluation_labels is not None else None

    @property
    def challenging(self) -> bool:
        """Whether a challenger is trained: a training run with ``validation.challenger``."""
        return self.training and self.config.validation.challenger

    @property
    def published_scores(self) -> Path:
        """The account scores the rings are built from: the challenger stage's winner when
        there is one, else the score stage's."""
        if self.challenging:
            return self.output("challenger", ACCOUNT_SCORES)
        return self.output("score", ACCOUNT_SCORES)


def plan(
    request: RunRequest, mapping: Mapping, cache: StageCache, runner: StageRunner
) -> list[StageSpec]:
    """The stages of ``request``, in order, each reading its upstream stages' output dirs."""
    run = PlannedRun(request, mapping, cache, runner)
    specs = [spec for stage in STAGES if (spec := stage(run)) is not None]
    return [*specs, report_stage(run, after=tuple(spec.name for spec in specs))]


def ingest_stage(run: PlannedRun) -> StageSpec:
    """Logs -> events (and quarantined rows)."""
    from ingest.readers import resolve_inputs

    request, settings = run.request, run.config.ingest
    return StageSpec(
        "ingest", "ingest logs",
        lambda out: data.ingest_stage(
            request.inputs, run.mapping, request.labels, out,
            max_bad_fraction=settings.max_bad_fraction, progress=request.progress,
            engine=request.engine, spark_master=request.spark_master,
        ),
        key={
            "inputs": files_fingerprint(resolve_inputs(request.inputs)),
            "labels": files_fingerprint([request.labels]) if request.labels else None,
            "mapping": run.mapping.fingerprint(),
            "settings": settings.model_dump(),
            # how the labels file is read (values, constants, ts): the events' fingerprint
            # leaves it out, and an edited labels section must not resume with the old labels
            **({"labels_section": repr(run.mapping.labels)} if request.labels else {}),
        },
        code=INGEST_CODE, spinner=False,
        describe=lambda i: (f"{i['rows_in']:,} rows in, {i['accepted']:,} accepted, "
                            f"{i['quarantined']:,} quarantined, {i['duplicates']:,} duplicates"),
    )


def snapshot_stage(run: PlannedRun) -> StageSpec:
    """Events -> graph snapshot (keeping the event and entity labels given)."""
    request = run.request
    key: dict[str, Any] = {"mapping": run.mapping.fingerprint()}
    if run.mapping.not_featurized:  # not in the fingerprint: the events are the same
        key["not_featurized"] = list(run.mapping.not_featurized)
    # A saved model's string attribute values: the snapshot counts those, so that the model
    # finds the columns it was trained on.
    shares = None
    if request.model_dir is not None:
        from gnn.persistence import saved_attribute_shares  # torch only when scoring

        shares = saved_attribute_shares(request.model_dir)
        key["attribute_shares"] = shares
    # Only when given, so that a run without them keeps its key (and its cache).
    for section, path in (("event_labels", request.event_labels),
                          ("entity_labels", request.entity_labels)):
        if path is not None:
            key[section] = {"file": files_fingerprint([path]),
                            "section": repr(run.mapping.label_section(section))}
    return StageSpec(
        "snapshot", "build graph snapshot",
        lambda out: data.snapshot_stage(run.output("ingest", EVENTS), run.mapping, out,
                                        event_labels=request.event_labels,
                                        entity_labels=request.entity_labels,
                                        attribute_shares=shares,
                                        progress=request.progress, engine=request.engine,
                                        spark_master=request.spark_master),
        key=key, after=("ingest",), code=SNAPSHOT_CODE,
        spinner=False,
        describe=lambda i: (f"{sum(i['nodes'].values()):,} nodes, "
                            f"{sum(i['relationships'].values()):,} relationships"),
    )


def neo4j_load_stage(run: PlannedRun) -> StageSpec | None:
    """The snapshot -> Neo4j, on every run (the database can change behind the cache's back)."""
    settings = run.request.neo4j
    if settings is None:
        return None
    request = run.request
    return StageSpec(
        "neo4j_load", f"load the graph into Neo4j as graph {request.graph_name!r}",
        lambda out: neo4j.neo4j_load_stage(
            settings, run.snapshot, graph=request.graph_name, mode=run.config.neo4j.load_mode,
            prune=request.prune, force=request.force,
            max_prune_fraction=run.config.neo4j.prune_max_fraction,
            dump_before_prune=run.config.neo4j.dump_before_prune,
            progress=request.progress),
        key={"uri": settings.uri, "database": settings.database, "graph": request.graph_name,
             "prune": request.prune},
        after=("snapshot",), spinner=False, always=True,
        describe=_describe_load,
    )


def candidates_stage(run: PlannedRun) -> StageSpec:
    """The snapshot -> ring candidates; with a model to score the accounts and
    ``ring_scoring.pair_fdr`` set, the pairs chance explains too (``rings.chance_pairs``), for the
    rings stage to judge by their scores."""
    rings, request = run.config.rings, run.request
    if run.model is not None and run.config.ring_scoring.pair_fdr is not None:
        rings = replace(rings, chance_pairs=True)
    # the engine joins the key only when Spark: hubs are chained in another order there
    spark = {"engine": "spark"} if request.engine == "spark" else {}
    return StageSpec(
        "candidates", "find ring candidates",
        lambda out: data.candidates_stage(run.snapshot, rings, out,
                                          events=run.output("ingest", EVENTS),
                                          engine=request.engine,
                                          spark_master=request.spark_master),
        key=asdict(rings) | spark, after=("snapshot",), code=GRAPH_CODE,
        describe=lambda i: f"{i['candidates']:,} candidates" + (
            f" ({i['over_max_size']:,} of more than {rings.max_size} accounts, judged whole)"
            if i.get("over_max_size") else ""),
    )


def labels_stage(run: PlannedRun) -> StageSpec | None:
    """The snapshot's labels -> training and held-back account labels (all for training with a
    model), account labels derived from event labels, the event and entity labels passed on."""
    if not run.any_labels:
        return None
    settings = run.config.labels
    holdout = settings.holdout_fraction if run.training else 0.0
    from_events = settings.from_events if run.request.event_labels is not None else "none"
    key: dict[str, Any] = {**settings.split_settings(), "holdout_fraction": holdout}
    if run.request.event_labels is not None:
        key["from_events"] = from_events
    return StageSpec(
        "labels", "split labels",
        lambda out: labels.labels_stage(
            run.snapshot, out, holdout_fraction=holdout, seed=settings.seed,
            unlabelled_as_negative=settings.unlabelled_as_negative, from_events=from_events,
            rare_tie_users=settings.rare_tie_users,
        ),
        key=key, after=("snapshot",), code=GRAPH_CODE, describe=_describe_labels,
    )


def _describe_labels(info: dict[str, Any]) -> str:
    text = (f"{info['labels']:,} labels ({info['positives']:,} abusive): "
            f"{info['train']:,} for training, {info['holdout']:,} held back")
    if "derived_from_events" in info:
        text += f" ({info['derived_from_events']:,} derived from event labels)"
    if info.get("filled_negatives"):
        text += (f"; {info['filled_negatives']:,} unlabelled accounts taken as legitimate "
                 "(labels.unlabelled_as_negative)")
    if info.get("kept_unlabelled"):
        text += (f", {info['kept_unlabelled']:,} left unlabelled for sharing a rare entity with "
                 "a labelled abusive account (labels.rare_tie_users)")
    for level in ("event", "entity"):
        facts = info.get(f"{level}_labels")
        if facts:
            text += (f"; {facts['count']:,} {level} labels ({facts['positives']:,} fraudulent), "
                     f"{facts['unmatched']:,} naming no {level} of the graph")
    return text


def train_stage(run: PlannedRun) -> StageSpec | None:
    """The training labels -> a saved detector."""
    if not run.training:
        return None
    settings = run.config.detector
    return StageSpec(
        "train", "train the detector",
        lambda out: detect.train_stage(run.snapshot, run.output("labels", TRAIN_LABELS),
                                       settings, out, progress=run.request.progress,
                                       validation=run.validation),
        key={**settings.model_dump(exclude_unset=True),
             "validation": run.validation.model_dump(
                 include={"out_of_time_days", "gap_days"}),
             "drift_bins": run.config.validation.drift.bins},
        after=("snapshot", "labels"),
        code=MODEL_CODE, spinner=not run.request.progress,
        describe=lambda i: f"model {i['model_version']}",
    )


def score_stage(run: PlannedRun) -> StageSpec:
    """Account and entity scores: from the detector, or by ring structure without one."""
    model = run.model
    if model is None:
        scoring = run.config.ring_scoring
        return StageSpec(
            "score", "score accounts and entities by ring structure (no labels)",
            lambda out: detect.structure_score_stage(
                run.snapshot, run.output("candidates", CANDIDATES), scoring, out),
            key=scoring.model_dump(), after=("snapshot", "candidates"), code=MODEL_CODE,
            describe=_describe_scores,
        )
    return StageSpec(
        "score", "score accounts and entities",
        lambda out: detect.score_stage(run.snapshot, model, out),
        # A trained model is keyed by the train stage; a saved one by its files.
        key=None if run.training else {"model": files_fingerprint([model])},
        after=("snapshot", "train") if run.training else ("snapshot",), code=MODEL_CODE,
        describe=_describe_scores,
    )


def challenger_stage(run: PlannedRun) -> StageSpec | None:
    """XGB-Graph and the blend beside the GNN; the winner on validation labels publishes."""
    if not run.challenging:
        return None
    settings = run.config.validation
    return StageSpec(
        "challenger", "train the challenger (XGB-Graph) and choose the published scores",
        lambda out: validation.challenger_stage(
            run.snapshot, run.cache.output_dir("train"), run.output("score", ACCOUNT_SCORES),
            settings, out, seed=run.config.labels.seed),
        key={"challenger": True, "selection_metric": settings.selection_metric,
             "publish": settings.publish,
             "min_challenger_positives": settings.min_challenger_positives,
             "seed": run.config.labels.seed},
        after=("snapshot", "train", "score"), code=MODEL_CODE,
        describe=_describe_selection,
    )


def _describe_selection(info: dict[str, Any]) -> str:
    """The challenger stage's line: the published candidate and by how much it won, or that the
    GNN was kept for too few validation positives."""
    kept = info.get("kept")
    if kept:
        return (f"published: {info['winner']} (kept: {kept['positives']} validation positives, "
                f"fewer than {kept['min_challenger_positives']} to choose by)")
    return f"published: {info['winner']} (by {info['margin']:+.4f} {info['chosen_on']})"


def serve_start_stage(run: PlannedRun) -> StageSpec | None:
    """What ``abusenet serve``'s start computes from the snapshot and the trained model (its
    start cache, ``OUT/.work/serve/start/<key>``), so that the service's first start reads it
    instead of the whole-graph pass); ``None`` without training or with
    ``serve.prepare_start`` off."""
    if not (run.training and run.config.serve.prepare_start):
        return None
    model = run.model

    def prepare(out: Path) -> dict[str, Any]:
        from abusenet.serve.state import GraphState

        written = GraphState.prepare_start(run.request.out_dir, model, run.snapshot)
        return {"written": [str(p.relative_to(run.request.out_dir)) for p in written]}

    return StageSpec(
        "serve_start", "prepare the start of `abusenet serve`", prepare,
        after=("snapshot", "train"), code=(*MODEL_CODE, "abusenet/serve"),
        describe=lambda i: ", ".join(i["written"]) or "start caches there already",
    )


def drift_stage(run: PlannedRun) -> StageSpec | None:
    """A saved model's training reference against this run's data."""
    model = run.request.model_dir
    if model is None:
        return None
    settings = run.config.validation.drift
    labels = run.evaluation_labels
    return StageSpec(
        "drift", "compare the data with the model's training reference",
        lambda out: validation.drift_stage(model, run.snapshot, run.output("score",
                                                                           ACCOUNT_SCORES),
                                           labels, settings, out),
        key={"drift": settings.model_dump(), "model": files_fingerprint([model])},
        after=("snapshot", "score", *(("labels",) if labels is not None else ())),
        code=MODEL_CODE,
        describe=lambda i: ("no reference kept with the model" if not i.get("reference")
                            else "; ".join(i["alerts"]) or
                            f"no drift (score PSI {i['score_psi']:.3f})"),
    )


def rings_stage(run: PlannedRun) -> StageSpec:
    """Candidates + account scores -> scored rings, each account's best ring."""
    scoring = run.config.ring_scoring
    return StageSpec(
        "rings", "score rings",
        lambda out: detect.rings_stage(
            run.output("candidates", CANDIDATES), run.published_scores, scoring,
            out, run.output("labels", TRAIN_LABELS) if run.training else None,
            snapshot_dir=run.snapshot, search=run.config.rings, model_dir=run.model),
        key={"scoring": scoring.model_dump(), "search": asdict(run.config.rings)},
        after=("snapshot", "candidates", "score", *(("labels",) if run.training else ()),
               *(("challenger",) if run.challenging else ())), code=MODEL_CODE,
        describe=lambda i: (f"{i['rings']:,} rings, {i['accounts_in_rings']:,} accounts in one"
                            + (f", {i['scored_rings']:,} of them groups of high-scoring "
                               f"accounts" if i.get("scored_rings") else "")),
    )


def evaluate_stage(run: PlannedRun) -> StageSpec | None:
    """Scores and rings measured on the held-back (or, with a saved model, all) labels."""
    evaluation = run.evaluation_labels
    if evaluation is None:
        return None
    training = run.training
    return StageSpec(
        "evaluate", "evaluate on held-back labels",
        lambda out: detect.evaluate_stage(
            run.output("rings", ACCOUNT_SCORES), run.output("rings", RINGS), evaluation, out,
            training=run.cache.info("train").get("metrics") if training else None,
            what="held-back labels" if training else "all given labels (model not retrained)",
            validation=_validation_blocks(run, evaluation),
        ),
        after=("labels", "rings", *(("train",) if training else ()),
               *(("challenger",) if run.challenging else ())), code=MODEL_CODE,
        describe=lambda i: (f"AUROC {_fmt(i['accounts']['auroc'])}, "
                            f"AUPRC {_fmt(i['accounts']['auprc'])} on {i['labels']:,} labels"),
    )


def _validation_blocks(run: PlannedRun, evaluation: Path) -> dict[str, Any] | None:
    """``metrics.json``'s challenger, candidates, selection, out-of-time and slice blocks."""
    if not run.challenging:
        return None
    import pandas as pd

    from graph.snapshot import ACCOUNT, read_snapshot

    train_dir = run.cache.output_dir("train")
    window = train_dir / validation.OUT_OF_TIME_LABELS
    accounts = read_snapshot(run.snapshot, node_types=[ACCOUNT], relations=[]).nodes[ACCOUNT]
    first_seen = (accounts.set_index(accounts["id"].astype(str))["first_ts"]
                  if "first_ts" in accounts else None)
    selection = run.cache.info("challenger")
    blocks = validation.validation_metrics(
        run.output("challenger", validation.CANDIDATES_FILE), selection["winner"],
        pd.read_parquet(evaluation), pd.read_parquet(window) if window.is_file() else None,
        first_seen, run.config.validation.slice_days)
    split = run.cache.info("train").get("split", {}).get("out_of_time")
    if "out_of_time" not in blocks and split:
        blocks["out_of_time"] = {"labels": 0, "reason": split.get("reason")}
    return {**blocks, "selection": selection}


def events_stage(run: PlannedRun) -> StageSpec | None:
    """Event risk: the event model trained on event labels, or the saved one applied."""
    ingested = run.output("ingest", EVENTS)
    saved = run.event_model
    if saved is not None:
        return StageSpec(
            "events", "score events with the saved event model",
            lambda out: events.score_events_stage(ingested, saved, run.event_labels, out,
                                                  entity_labels_path=run.entity_labels),
            key={"model": files_fingerprint([saved])},
            after=("ingest", *(("labels",) if run.event_labels or run.entity_labels else ())),
            code=MODEL_CODE,
            describe=_describe_events,
        )
    if run.event_labels is None or run.request.model_dir is not None:
        return None
    holdout = run.config.labels.holdout_fraction
    return StageSpec(
        "events", "train the event model and score events",
        lambda out: events.train_events_stage(ingested, run.event_labels, out,
                                              holdout_fraction=holdout,
                                              entity_labels_path=run.entity_labels),
        key={"holdout_fraction": holdout}, after=("ingest", "labels"), code=MODEL_CODE,
        describe=_describe_events,
    )


def _describe_events(info: dict[str, Any]) -> str:
    if info.get("skipped"):
        return f"no event model: {info['skipped']}"
    metrics = info.get("metrics") or {}
    text = f"{info['events']:,} events scored"
    if metrics:
        text += (f"; AUROC {_fmt(metrics['auroc'])}, AUPRC {_fmt(metrics['auprc'])} on "
                 f"{metrics['n']:,} held-back events")
    validation = str(info.get("validation", ""))
    if validation.startswith("stratified"):
        by = ("by event; probabilities may be optimistic" if "drawn by event" in validation
              else "by account")
        text += f"; validation slice stratified {by} (the fraud is one burst in time)"
    return text


def entities_stage(run: PlannedRun) -> StageSpec:
    """Entity scores with their ``method``: supervised (entity model trained, or saved one
    applied) where an entity type has a model, pooled from the accounts elsewhere."""
    pooled = run.output("score", ENTITY_SCORES)
    columns = entities.entity_event_columns(
        list(run.mapping.entity_node_types()),
        {spec.node_type: spec.event_column for spec in run.mapping.entities})
    ingested = run.output("ingest", EVENTS)
    label_stage = ("labels",) if run.any_labels else ()
    saved = run.entity_model
    if saved is not None:
        return StageSpec(
            "entities", "score entities with the saved entity model",
            lambda out: entities.apply_entities_stage(
                run.snapshot, ingested, columns, saved, pooled, run.event_labels,
                run.entity_labels, out),
            key={"model": files_fingerprint([saved]), "columns": columns},
            after=("ingest", "snapshot", "score", *label_stage), code=MODEL_CODE,
            describe=_describe_entities,
        )
    if not run.training_entities:
        return StageSpec(
            "entities", "entity scores (pooled from accounts)",
            lambda out: entities.pooled_entities_stage(pooled, out),
            after=("score",), code=(_PIPELINE,), describe=_describe_entities,
        )
    settings = run.config.labels
    detector = run.config.detector.model_dump(exclude_unset=True)
    return StageSpec(
        "entities", "train the entity model and score entities",
        lambda out: entities.train_entities_stage(
            run.snapshot, ingested, columns, pooled, run.event_labels, run.entity_labels, out,
            holdout_fraction=settings.holdout_fraction, seed=settings.seed,
            detector_params=detector, progress=run.request.progress),
        key={"holdout_fraction": settings.holdout_fraction, "seed": settings.seed,
             "columns": columns, "detector": detector},
        after=("ingest", "snapshot", "score", "labels"), code=MODEL_CODE,
        spinner=not run.request.progress, describe=_describe_entities,
    )


def _describe_entities(info: dict[str, Any]) -> str:
    text = f"{info['entities']:,} entities, {info['supervised']:,} scored by the entity model"
    for node_type, metrics in (info.get("metrics") or {}).items():
        text += (f"; {node_type} AUROC {_fmt(metrics['auroc'])} on {metrics['n']:,} "
                 "held-back labels")
    if info.get("skipped"):
        text += f" (entity model not trained: {info['skipped']})"
    return text


def risk_metrics_stage(run: PlannedRun) -> StageSpec | None:
    """``metrics.json`` with the event and entity models' measures beside the accounts'."""
    if not run.risk_metrics:
        return None
    evaluation = run.evaluation_labels
    upstream = ("events" if run.event_labels is not None or run.event_model is not None
                else None, "entities", "evaluate" if evaluation is not None else None)
    after = tuple(name for name in upstream if name is not None)
    return StageSpec(
        "risk_metrics", "collect event and entity metrics",
        lambda out: risk_metrics.risk_metrics_stage(
            run.output("evaluate", METRICS) if evaluation is not None else None,
            run.cache.info("events") if "events" in after else None,
            run.cache.info("entities"), out),
        after=after, code=(_PIPELINE,),
        describe=lambda i: "sections: " + (", ".join(i["sections"]) or "none"),
    )


def explain_stage(run: PlannedRun) -> StageSpec | None:
    """What drove the scores of each top ring's riskiest members."""
    model = run.model
    if model is None or not run.explaining:
        return None
    settings = run.config.report
    return StageSpec(
        "explain", "explain the top rings' riskiest members",
        lambda out: detect.explain_stage(
            run.snapshot, model, run.output("rings", RINGS), run.output("rings", ACCOUNT_SCORES),
            out, rings=settings.top_rings, members=settings.explain_members,
            progress=run.request.progress,
        ),
        key=settings.model_dump(include={"top_rings", "explain_members"}),
        # "rings" chains "score", whose key covers the trained or given model.
        after=("snapshot", "rings"), code=MODEL_CODE, spinner=not run.request.progress,
        describe=lambda i: (f"{i['accounts']:,} accounts explained" if not i["skipped"]
                            else f"skipped ({i['skipped']})"),
    )


def neo4j_write_stage(run: PlannedRun) -> StageSpec | None:
    """Scores, rings and memberships -> Neo4j, on every run."""
    settings = run.request.neo4j
    if settings is None:
        return None
    scored = events_stage(run) is not None
    return StageSpec(
        "neo4j_write", "write scores and rings to Neo4j",
        lambda out: neo4j.writeback_stage(
            settings, run.output("rings", ACCOUNT_SCORES),
            run.output("entities", ENTITY_SCORES), run.output("rings", RINGS),
            detect.model_version(run.model), graph=run.request.graph_name,
            event_scores_path=run.output("events", events.EVENT_SCORES) if scored else None,
            event_relations=neo4j.event_relations(run.mapping),
        ),
        key={"uri": settings.uri, "database": settings.database,
             "graph": run.request.graph_name},
        after=("rings", "entities", *(("events",) if scored else ()), "neo4j_load"),
        always=True,
        describe=lambda i: ", ".join(f"{v:,} {k}" if isinstance(v, int) else f"{k} {v!r}"
                                     for k, v in i.items()),
    )


def _describe_load(info: dict[str, Any]) -> str:
    text = (f"graph {info.get('graph', '?')!r}: {info['written']:,} nodes and relationships "
            f"written, {info['unchanged']:,} unchanged")
    if info.get("deleted"):
        text += f", {info['deleted']:,} pruned"
    if info.get("stale"):
        text += f", {info['stale']:,} stale kept (--prune deletes them)"
    return f"{text} ({info['mode']})"


def report_stage(run: PlannedRun, after: tuple[str, ...]) -> StageSpec:
    """``report.html`` from everything the stages ``after`` produced."""
    request, settings, evaluation = run.request, run.config.report, run.evaluation_labels
    neo4j_uri = request.neo4j.uri if request.neo4j else None
    scored = events_stage(run) is not None

    def write_report(out: Path) -> dict[str, Any]:
        # The report's renderer (Jinja2, matplotlib) loads only when the report is written.
        from abusenet.report.html import top_ring_query

        return report.report_stage(
            out,
            run_facts=_run_facts(run),
            ingest=run.cache.info("ingest"),
            graph=run.cache.info("snapshot"),
            stages=[(o.title, o.seconds, o.cached) for o in run.runner.outcomes.values()],
            snapshot_dir=run.snapshot,
            account_scores_path=run.output("rings", ACCOUNT_SCORES),
            entity_scores_path=run.output("entities", ENTITY_SCORES),
            rings_path=run.output("rings", RINGS),
            evaluation_labels=evaluation,
            metrics_path=run.output("evaluate", METRICS) if evaluation is not None else None,
            explanations_path=run.output("explain", EXPLANATIONS) if run.explaining else None,
            neo4j=None if neo4j_uri is None else {
                "uri": neo4j_uri, "browser_url": request.browser_url or "",
                "query": top_ring_query(request.graph_name),
            },
            top_rings=settings.top_rings,
            top_entities=settings.top_entities,
            event_scores_path=run.output("events", events.EVENT_SCORES) if scored else None,
            event_risk=run.cache.info("events") if scored else None,
            entity_risk=run.cache.info("entities"),
            drift=run.cache.info("drift") or None if run.request.model_dir else None,
        )

    return StageSpec(
        "report", "write report.html", write_report,
        key={"report": settings.model_dump(), "browser": request.browser_url, "neo4j": neo4j_uri},
        after=after,
    )


#: Every stage but the report, in run order (the report reads all of them: see :func:`plan`).
STAGES: tuple[Callable[[PlannedRun], StageSpec | None], ...] = (
    ingest_stage,
    snapshot_stage,
    neo4j_load_stage,
    candidates_stage,
    labels_stage,
    train_stage,
    score_stage,
    challenger_stage,
    serve_start_stage,
    drift_stage,
    rings_stage,
    evaluate_stage,
    events_stage,
    entities_stage,
    risk_metrics_stage,
    explain_stage,
    neo4j_write_stage,
)


def _describe_scores(info: dict[str, Any]) -> str:
    return (f"{info['accounts']:,} accounts, {info['entities']:,} entities, "
            f"{info['accounts_above_0_5']:,} accounts at score >= 0.5")


def _run_facts(run: PlannedRun) -> dict[str, Any]:
    request, cache = run.request, run.cache
    facts: dict[str, Any] = {
        "inputs": request.inputs,
        "mapping": str(request.mapping),
        "labels": str(request.labels) if request.labels else "none",
        **({"event labels": str(request.event_labels)} if request.event_labels else {}),
        **({"entity labels": str(request.entity_labels)} if request.entity_labels else {}),
        "output directory": str(request.out_dir),
        "graph": request.graph_name,
    }
    from abusenet.pipeline.decision_labels import decisions_used

    decided = decisions_used(Path(request.mapping))
    if decided is not None:
        facts["labels from decisions"] = decided["summary"]
    if request.model_dir is None:
        facts["model"] = f"trained in this run: {cache.info('train').get('model_version')}"
        split = cache.info("labels")
        facts["labels used"] = (f"{split.get('train', 0):,} for training, "
                                f"{split.get('holdout', 0):,} held back for evaluation")
    else:
        facts["model"] = f"{request.model_dir} ({cache.info('score').get('model_version')})"
    if request.neo4j is not None:
        facts["Neo4j"] = (f"{request.neo4j.uri} (database {request.neo4j.database}, "
                          f"graph {request.graph_name})")
    return facts


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
