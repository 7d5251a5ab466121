"""Diagnostics through the standard :mod:`logging` module, configured once by the command line.

Every module logs to ``logging.getLogger(__name__)``; nothing is printed unless the command line
(``-v`` / ``--log-level``) or the embedding application configures logging. The command line
sends records to stderr through rich, so they never mix with a command's output on stdout.
Log messages never carry secrets (passwords, tokens): log a user name or a URI, not credentials.
"""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

#: The project's packages: their loggers follow ``-v`` / ``--log-level``.
PROJECT_PACKAGES: tuple[str, ...] = ("abusenet", "gnn", "graph", "ingest")
#: Level names ``--log-level`` accepts.
LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: Third-party libraries log at this level or above only, whatever the project's level.
LIBRARY_LEVEL = logging.WARNING


def level_for(verbose: int = 0, log_level: str | None = None) -> int:
    """The project's logging level: ``log_level`` when given, else WARNING lowered by ``verbose``.

    Parameters
    ----------
    verbose
        How many times ``-v`` was given: 0 = WARNING, 1 = INFO, 2 or more = DEBUG.
    log_level
        A name of :data:`LEVELS` (any case); wins over ``verbose``.

    Returns
    -------
    int
        A :mod:`logging` level.
    """
    if log_level is not None:
        name = log_level.upper()
        if name not in LEVELS:
            raise ValueError(f"unknown log level {log_level!r}: choose one of {', '.join(LEVELS)}")
        return logging.getLevelName(name)
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


def configure_logging(level: int) -> None:
    """Send log records to stderr (rich), the project's at ``level`` and up, others' at WARNING.

    Safe to call again (each command-line invocation does): the handler it installed before is
    replaced, not added twice.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    root.addHandler(_StderrHandler())
    root.setLevel(LIBRARY_LEVEL)
    for package in PROJECT_PACKAGES:
        logging.getLogger(package).setLevel(level)
    # The driver logs every retried transaction ("... will be retried") and its own connection
    # errors; abusenet reports the outcome in one line of its own, so those show only with -vv.
    logging.getLogger("neo4j").setLevel(LIBRARY_LEVEL if level <= logging.DEBUG
                                        else logging.CRITICAL)


class _StderrHandler(RichHandler):
    """rich's handler on stderr, marked so :func:`configure_logging` can find and replace it."""

    def __init__(self) -> None:
        super().__init__(console=Console(stderr=True), show_path=False, rich_tracebacks=False,
                         markup=False, log_time_format="[%X]")
