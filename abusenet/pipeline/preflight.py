"""Checks of a run before anything is written: inputs, mapping, labels, model and Neo4j login."""

from __future__ import annotations

from abusenet.pipeline.errors import PipelineError, input_error, neo4j_error
from abusenet.pipeline.outputs import MODEL_DIR
from abusenet.pipeline.request import RunRequest
from graph.store.connection import Neo4jSettings, redact_uri
from ingest.mapping import Mapping


def preflight(request: RunRequest) -> Mapping:
    """Check inputs, mapping, labels, model and Neo4j before any file is written.

    The run config was validated when it was loaded (:func:`~abusenet.pipeline.config.
    load_run_config`), so a bad setting never gets this far.

    Returns
    -------
    Mapping
        The loaded mapping.

    Raises
    ------
    PipelineError
        On the first problem found.
    """
    from ingest.event_labels import check_level_labels_file
    from ingest.labels import check_labels_file
    from ingest.mapping import load_mapping
    from ingest.plan import check_input_columns
    from ingest.readers import resolve_inputs

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
        check_input_columns(mapping, resolve_inputs(request.inputs))
        if request.labels is not None:
            if not request.labels.is_file():
                raise PipelineError(
                    f"labels file {request.labels} does not exist; pass --labels an existing "
                    "file with account ids and labels, or leave --labels out"
                )
            check_labels_file(request.labels, mapping)
        for option, path, section, holding in (
            ("--event-labels", request.event_labels, "event_labels", "event ids"),
            ("--entity-labels", request.entity_labels, "entity_labels",
             "entity ids, node types"),
        ):
            if path is None:
                continue
            if not path.is_file():
                raise PipelineError(
                    f"{section.replace('_', ' ')} file {path} does not exist; pass {option} an "
                    f"existing file with {holding} and labels, or leave {option} out"
                )
            check_level_labels_file(path, mapping, section)
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
                f"cannot use Neo4j at {redact_uri(settings.uri)}: {type(exc).__name__}: {exc}. "
                "Check NEO4J_URI / --neo4j-uri, or run without Neo4j by leaving them out."
            ) from None
        raise known from None
