"""User-facing failures of a batch run: one paragraph naming the problem, the place and the fix."""

from __future__ import annotations

import traceback
from pathlib import Path

from graph.store.connection import Neo4jSettings, explain_neo4j_error


class PipelineError(RuntimeError):
    """A run cannot go on; ``str()`` is the one-paragraph message for the user."""


def neo4j_error(exc: BaseException, settings: Neo4jSettings) -> PipelineError | None:
    """The message for a Neo4j connection or login failure, or ``None`` for other errors.

    The text is :func:`graph.store.connection.explain_neo4j_error`'s, the one translation of
    Neo4j failures."""
    message = explain_neo4j_error(exc, settings)
    return None if message is None else PipelineError(message)


def input_error(exc: BaseException) -> PipelineError | None:
    """The message for a bad input, mapping, labels file or config, or ``None`` for others."""
    from abusenet.pipeline.config import ConfigError
    from ingest.labels import LabelsError
    from ingest.mapping import MappingError
    from ingest.readers import InputError
    from ingest.run import TooManyBadRows

    if isinstance(exc, ConfigError):
        return PipelineError(f"bad run configuration: {exc}")
    if isinstance(exc, InputError):
        return PipelineError(
            f"bad input: {exc}. Pass --input an existing file, directory or glob pattern of "
            "CSV/TSV, Parquet or JSON-lines logs (optionally gzipped); repeat --input for more."
        )
    if isinstance(exc, MappingError):
        return PipelineError(
            f"the mapping does not fit the logs: {exc}. Edit the mapping as this says "
            "(configs/mappings/ has examples), or pass the right --mapping."
        )
    if isinstance(exc, LabelsError):
        return PipelineError(
            f"bad labels file: {exc}. Labels are 1 (abusive) or 0 (legitimate); fix the file "
            "or the mapping's section for it ('labels:', 'event_labels:' or 'entity_labels:')."
        )
    if isinstance(exc, TooManyBadRows):
        return PipelineError(
            f"{exc} Most often a timestamp or number column is mapped wrongly. To store the "
            "good rows anyway (the others go to the quarantine), allow more with the override "
            "ingest.max_bad_fraction=<share> (on `abusenet run` also --max-bad-fraction "
            "<share>)."
        )
    return None


def stage_error(stage: str, exc: BaseException, work_dir: Path) -> PipelineError:
    """The message for an unexpected failure of ``stage``; the traceback goes to a log file."""
    log = work_dir / "last_error.log"
    work_dir.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(traceback.format_exception(exc)))
    return PipelineError(
        f"stage '{stage}' failed: {type(exc).__name__}: {str(exc).rstrip('.')}. No output "
        "file was changed. "
        f"The stages before it are kept in {work_dir}, so rerunning the same command resumes "
        f"at '{stage}'; the full traceback is in {log}."
    )
