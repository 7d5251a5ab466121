"""``abusenet run`` (logs -> scored rings, files and Neo4j) and ``abusenet score`` (saved model)."""

from __future__ import annotations

from pathlib import Path

import typer

from abusenet.commands.ingest import EngineOption, SparkMasterOption
from abusenet.commands.options import ProgressOption

RUN_HELP = (
    "Turn interaction logs into scored accounts, entities and rings: ingest -> graph snapshot "
    "-> ring candidates -> train the GNN detector -> score -> rings -> report.\n\n"
    "OUT receives account_scores.parquet, entity_scores.parquet, rings.parquet, metrics.json "
    "(quality on the labels the run held back), report.html, quarantine.parquet (when rows were "
    "rejected), model/ (for `abusenet score`) and explanations.parquet (what drove the scores "
    "of each top ring's riskiest members). Files appear only when the whole run "
    "succeeded. Intermediate results stay in OUT/.work: a rerun skips unchanged stages, and a "
    "failed run resumes where it stopped.\n\n"
    "With a Neo4j URI (--neo4j-uri, the config's neo4j.uri, or NEO4J_URI) the graph is also "
    "loaded into Neo4j and scores and rings are written back. The password comes from "
    "NEO4J_PASSWORD or, for the local server, from its password file; never from a config.\n\n"
    "Labels come at three levels, in any mix: --labels (accounts), --event-labels (events, "
    "e.g. chargebacks, matched by event_id) and --entity-labels (devices, IPs, cards or a "
    "mapping's extra entity types). With event labels and no account labels, accounts are "
    "labelled by the rule labels.from_events (any: an account with a fraudulent labelled event "
    "is abusive, one whose labelled events are all genuine legitimate; given account labels "
    "win). Labels naming no event or entity of the graph are counted in the summary.\n\n"
    "Every run with labels validates its model: the latest validation.out_of_time_days of "
    "labels are held out of training (the out-of-time window), XGB-Graph and the GNN + "
    "XGB-Graph blend are trained on the same split, and the scores published come from the "
    "candidate best on the validation labels (metrics.json: published, selection, challenger, "
    "out_of_time, time_slices, calibration). A trained model is registered in the model "
    "registry (registry.enabled); with --promote it becomes the production model only when "
    "every gate of validation.gates passes against the champion re-scored on the same labels; "
    "the summary names a failed gate and by how much (exit code 0 either way).\n\n"
    "Trailing SECTION.KEY=VALUE arguments override the config, e.g. detector.max_epochs=5 "
    "rings.max_size=30 (sections: ingest, labels, rings, ring_scoring, detector, neo4j, "
    "report, validation, registry; see configs/default.yaml)."
)

#: Exit code of ``abusenet score`` when the new data has drifted from the model's training
#: reference (validation.drift thresholds); the outputs are written all the same.
DRIFT_EXIT_CODE = 3
#: ``abusenet score`` without ``--model``: the registry's production model.
SCORE_PRODUCTION = Path("<production>")

SCORE_HELP = (
    "Apply a saved detector (--model, default the registry's production model) to new logs "
    "without retraining: ingest -> snapshot -> ring candidates -> score -> rings -> report. "
    "Writes the same files as `abusenet run` (no model/); with --labels (or account labels "
    "derived from --event-labels), metrics.json measures the model on all of them.\n\n"
    "Drift: the data is compared with the model's training reference (population stability "
    "index of every input feature and of the scores, share of unseen accounts, label rate); "
    "over a threshold of validation.drift it warns and exits with code 3 (outputs written)."
)


def register(app: typer.Typer) -> None:
    """Add the ``run`` and ``score`` commands to ``app``."""
    app.command(name="run", help=RUN_HELP)(run)
    app.command(name="score", help=SCORE_HELP)(score)


InputsOption = typer.Option(
    ..., "--input", "-i",
    help="Log files, directories or glob patterns (CSV/TSV, Parquet, JSON lines; .gz ok). "
    "Repeat for several.",
)
MappingOption = typer.Option(
    ..., "--mapping", "-m",
    help="Mapping YAML from your log columns to abusenet's (see configs/mappings/).",
)
OutOption = typer.Option(..., "--out", "-o", help="Output directory (created when missing).")
ConfigOption = typer.Option(
    None, "--config", "-c", help="Run settings YAML (default: built-in; see configs/default.yaml)."
)
Neo4jOption = typer.Option(
    None, "--neo4j-uri",
    help="Load the graph into this Neo4j and write results back, e.g. bolt://127.0.0.1:7687; "
    "'local' = the server of `abusenet neo4j install`. Default: NEO4J_URI or the config.",
)
ForceOption = typer.Option(
    False, "--force",
    help="Rerun every stage, ignoring cached results; with --prune, delete even more than "
    "neo4j.prune_max_fraction of the graph.",
)
GraphOption = typer.Option(
    None, "--graph",
    help="Name of this run's graph in Neo4j (letters, digits, '_', '.', '-'). Graphs of other "
    "names in the same server are never changed. Default: the output folder's name.",
)
PruneOption = typer.Option(
    False, "--prune",
    help="Delete the graph's nodes and relationships an earlier run loaded that this input no "
    "longer has (said before it deletes; refused beyond neo4j.prune_max_fraction of the graph "
    "without --force). Without it they stay.",
)
EventLabelsOption = typer.Option(
    None, "--event-labels",
    help="Event labels file (event id, 1 = fraudulent / 0 = genuine, optionally known_at: when "
    "the label became known), read with the mapping's event_labels: section. Matched to the "
    "logs' events by event_id (map the logs' id column as columns: {event_id: ...}); "
    "account labels are derived from them by labels.from_events.",
)
EntityLabelsOption = typer.Option(
    None, "--entity-labels",
    help="Entity labels file (entity id, node type such as Device, IP, PaymentMethod or a "
    "mapping's extra entity type, 1 = compromised / 0 = clean, optionally known_at), read "
    "with the mapping's entity_labels: section (node_type: a column, or "
    "constants: {node_type: Terminal}). Matched to the graph's nodes of that type by id.",
)
OverridesArgument = typer.Argument(
    None, metavar="[SECTION.KEY=VALUE]...", help="Config overrides, e.g. detector.max_epochs=5.",
    show_default=False,
)


def run(
    inputs: list[str] = InputsOption,
    mapping: Path = MappingOption,
    out: Path = OutOption,
    labels: Path | None = typer.Option(
        None, "--labels", "-l",
        help="Labels file (account, 1 = abusive / 0 = legitimate), read with the mapping's "
        "labels: section. All are training labels; labels.holdout_fraction of them is held "
        "back for metrics.json. Needed to train, unless --event-labels give account labels.",
    ),
    event_labels: Path | None = EventLabelsOption,
    entity_labels: Path | None = EntityLabelsOption,
    config: Path | None = ConfigOption,
    neo4j_uri: str | None = Neo4jOption,
    graph: str | None = GraphOption,
    prune: bool = PruneOption,
    force: bool = ForceOption,
    progress: bool = ProgressOption,
    max_bad_fraction: float | None = typer.Option(
        None, "--max-bad-fraction", min=0.0, max=1.0,
        help="Stop, writing nothing, when more than this fraction of the new rows fail "
        "validation (default: the config's ingest.max_bad_fraction, 0.01).",
    ),
    engine: str = EngineOption,
    spark_master: str | None = SparkMasterOption,
    promote: bool = typer.Option(
        False, "--promote",
        help="Register the trained model and make it the production model, only when every "
        "gate of validation.gates passes against the champion re-scored on this run's "
        "out-of-time window (or hold-out).",
    ),
    labels_from_decisions: bool = typer.Option(
        False, "--labels-from-decisions",
        help="Also take the analysts' decisions about this run's graph (`abusenet case "
        "confirm|dismiss`) as labels of their level (account, event, entity; a confirmed ring "
        "labels its members); a decision wins over a given label of the same target.",
    ),
    overrides: list[str] | None = OverridesArgument,
) -> None:
    """See :data:`RUN_HELP`."""
    if max_bad_fraction is not None:
        overrides = [*(overrides or []), f"ingest.max_bad_fraction={max_bad_fraction}"]
    if labels_from_decisions:
        mapping, labels, event_labels, entity_labels = _with_decisions(
            mapping, out, graph, labels, event_labels, entity_labels)
    _execute(inputs, mapping, out, labels, config, neo4j_uri, force, progress, overrides, None,
             graph=graph, prune=prune, event_labels=event_labels, entity_labels=entity_labels,
             engine=engine, spark_master=spark_master, promote=promote)


def score(
    model: Path | None = typer.Option(
        None, "--model", help="A saved detector: the model/ directory of an `abusenet run` "
        "output. Default: the registry's production model.",
    ),
    inputs: list[str] = InputsOption,
    mapping: Path = MappingOption,
    out: Path = OutOption,
    labels: Path | None = typer.Option(
        None, "--labels", "-l", help="Optional labels to measure the model on (not trained on)."
    ),
    event_labels: Path | None = EventLabelsOption,
    entity_labels: Path | None = EntityLabelsOption,
    config: Path | None = ConfigOption,
    neo4j_uri: str | None = Neo4jOption,
    graph: str | None = GraphOption,
    prune: bool = PruneOption,
    force: bool = ForceOption,
    progress: bool = ProgressOption,
    overrides: list[str] | None = OverridesArgument,
) -> None:
    """See :data:`SCORE_HELP`."""
    _execute(inputs, mapping, out, labels, config, neo4j_uri, force, progress, overrides,
             model or SCORE_PRODUCTION, graph=graph, prune=prune, event_labels=event_labels,
             entity_labels=entity_labels)


def _execute(
    inputs: list[str],
    mapping: Path,
    out: Path,
    labels: Path | None,
    config: Path | None,
    neo4j_uri: str | None,
    force: bool,
    progress: bool,
    overrides: list[str] | None,
    model: Path | None,
    *,
    graph: str | None = None,
    prune: bool = False,
    event_labels: Path | None = None,
    entity_labels: Path | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    promote: bool = False,
) -> None:
    from rich.console import Console
    from rich.markup import escape

    from abusenet.pipeline import (
        ConfigError,
        PipelineError,
        RunRequest,
        load_run_config,
        neo4j_settings_for_run,
        run_pipeline,
    )
    from abusenet.pipeline.summary import render_summary

    console = Console(stderr=True)
    scoring = model is not None
    try:
        settings = load_run_config(config, overrides)
        if scoring and model == SCORE_PRODUCTION:
            model = _production_model(settings.registry.model_name)
        neo4j, browser = neo4j_settings_for_run(settings.neo4j, neo4j_uri)
        request = RunRequest(
            inputs=list(inputs), mapping=mapping, out_dir=out, config=settings, labels=labels,
            event_labels=event_labels, entity_labels=entity_labels, model_dir=model,
            neo4j=neo4j, browser_url=browser, force=force, progress=progress, graph=graph,
            prune=prune, engine=engine, spark_master=spark_master,
        )
        result = run_pipeline(request, console)
    except (PipelineError, ConfigError) as err:
        console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if "train" in result.outcomes and (settings.registry.enabled or promote):
        from abusenet.validation.registration import register_and_gate

        result.extra.update(register_and_gate(result, settings, promote=promote))
    render_summary(result, Console())
    if result.info("drift").get("drifted"):
        raise typer.Exit(DRIFT_EXIT_CODE)


def _with_decisions(
    mapping: Path, out: Path, graph: str | None, labels: Path | None,
    event_labels: Path | None, entity_labels: Path | None,
) -> tuple[Path, Path | None, Path | None, Path | None]:
    """The mapping and labels files once the graph's decisions are merged in
    (:func:`abusenet.pipeline.decision_labels.merge_decision_labels`); says how many were used."""
    from rich.console import Console
    from rich.markup import escape

    from abusenet.cases.decisions import DecisionsFileError
    from abusenet.pipeline.decision_labels import merge_decision_labels
    from abusenet.pipeline.request import WORK_DIR
    from graph.store.graphs import default_graph_name

    console = Console(stderr=True)
    try:
        merged = merge_decision_labels(
            mapping, {"accounts": labels, "events": event_labels, "entities": entity_labels},
            graph or default_graph_name(out), out / WORK_DIR)
    except (DecisionsFileError, OSError, ValueError) as err:
        console.print(f"[red]error:[/red] --labels-from-decisions: {escape(str(err))}",
                      highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(merged.describe(), highlight=False, soft_wrap=True)
    files = merged.files
    return merged.mapping, files["accounts"], files["events"], files["entities"]


def _production_model(model_name: str) -> Path:
    """The registry's production model directory, or a :class:`PipelineError` naming the fix."""
    from abusenet.pipeline import PipelineError
    from abusenet.registry import RegistryError, RegistryStore, production_model_dir

    try:
        found = production_model_dir(RegistryStore.from_environment(model_name=model_name))
    except RegistryError as err:
        raise PipelineError(f"no --model given and the model registry failed: {err}") from None
    if found is None:
        raise PipelineError(
            f"no --model given and model {model_name!r} has no production version in the "
            "registry: pass --model DIR (an `abusenet run` output's model/), or promote a "
            "registered version with `abusenet models promote VERSION` (list them with "
            "`abusenet models list`)")
    return found
