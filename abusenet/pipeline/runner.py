"""Run a list of stages in order, skipping those whose inputs are unchanged since their last run.

A stage is a :class:`StageSpec`: a name, a callable that fills a fresh output directory and
returns a small JSON ``info``, the fingerprint material of its own inputs (settings, input files)
and the stages it reads from. Its fingerprint chains its upstream stages' fingerprints, so a
change anywhere reruns everything downstream of it and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from abusenet.pipeline.cache import (
    ALL_CODE,
    CACHE_VERSION,
    StageCache,
    code_fingerprint,
    fingerprint,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageSpec:
    """One stage of a run.

    Attributes
    ----------
    name
        Short identifier; also the name of its output directory in the work directory.
    title
        What the progress display calls it.
    run
        Called with a fresh, empty directory to write outputs into; returns a JSON-serialisable
        ``info`` dict (counts, timings) kept with the cache record.
    key
        JSON-serialisable description of everything the stage reads besides upstream stages.
    after
        Names of the upstream stages whose outputs it reads.
    spinner
        Show a spinner while it runs (off for stages that draw their own progress).
    describe
        Turns ``info`` into the one-line result shown after the stage.
    always
        Run on every run, cached or not: for stages whose target can change behind the cache's
        back (a Neo4j database); such stages must be idempotent.
    code
        The code the stage runs (see :func:`~abusenet.pipeline.cache.code_fingerprint`): a change
        there reruns it; a change elsewhere does not, unless an upstream stage reruns.
    """

    name: str
    title: str
    run: Callable[[Path], dict[str, Any]]
    key: Any = None
    after: tuple[str, ...] = ()
    spinner: bool = True
    describe: Callable[[dict[str, Any]], str] | None = None
    always: bool = False
    code: tuple[str, ...] = ALL_CODE


@dataclass
class StageOutcome:
    """A stage as the run left it: its info, where its outputs are, and whether it was cached."""

    name: str
    title: str
    info: dict[str, Any]
    seconds: float
    cached: bool
    output_dir: Path


class StageFailed(RuntimeError):
    """A stage raised; ``stage`` names it and ``__cause__`` holds the original exception."""

    def __init__(self, stage: StageSpec, error: BaseException) -> None:
        super().__init__(f"stage {stage.name!r} failed: {type(error).__name__}: {error}")
        self.stage = stage
        self.error = error


@dataclass
class StageRunner:
    """Runs stages with caching and a progress display.

    Parameters
    ----------
    cache
        Where stage outputs and records live.
    console
        The progress display's console (stderr by default).
    force
        Rerun every stage even when its fingerprint is unchanged.
    """

    cache: StageCache
    console: Console = field(default_factory=lambda: Console(stderr=True))
    force: bool = False
    outcomes: dict[str, StageOutcome] = field(default_factory=dict, init=False)

    def run(self, stages: Sequence[StageSpec]) -> dict[str, StageOutcome]:
        """Run ``stages`` in order; return their outcomes by name (also kept in ``outcomes``).

        Raises
        ------
        StageFailed
            When a stage raises; the stages before it keep their outputs and records, so the
            next run resumes at the failed stage.
        """
        keys: dict[str, str] = {}
        self.outcomes = outcomes = {}
        total = len(stages)
        for number, stage in enumerate(stages, start=1):
            missing = [name for name in stage.after if name not in keys]
            if missing:
                raise ValueError(f"stage {stage.name!r} runs before its inputs {missing}")
            key = fingerprint(CACHE_VERSION, code_fingerprint(stage.code), stage.name, stage.key,
                              [keys[n] for n in stage.after])
            keys[stage.name] = key
            prefix = f"[{number}/{total}] {stage.title}"
            fresh = self.force or stage.always
            record = None if fresh else self.cache.lookup(stage.name, key)
            if record is not None:
                logger.info("stage %s: inputs unchanged (fingerprint %s), cached result kept",
                            stage.name, key[:12])
                outcome = StageOutcome(stage.name, stage.title, record.info, record.seconds, True,
                                       self.cache.output_dir(stage.name))
            else:
                outcome = self._execute(stage, key, prefix)
            outcomes[stage.name] = outcome
            self._report(stage, outcome, prefix)
        return outcomes

    def _execute(self, stage: StageSpec, key: str, prefix: str) -> StageOutcome:
        started = time.perf_counter()
        logger.info("stage %s started (fingerprint %s%s)", stage.name, key[:12],
                    ", forced" if self.force else ", runs every time" if stage.always else "")
        try:
            with self.cache.building(stage.name) as tmp:
                if stage.spinner:
                    with self.console.status(f"{prefix} ..."):
                        info = stage.run(tmp)
                else:
                    self.console.print(f"[bold]{prefix}[/bold] ...")
                    info = stage.run(tmp)
        except Exception as exc:
            seconds = time.perf_counter() - started
            logger.info("stage %s failed after %.1f s: %s: %s", stage.name, seconds,
                        type(exc).__name__, exc, exc_info=logger.isEnabledFor(logging.DEBUG))
            self.console.print(f"[red]✗[/red] {prefix} failed after {seconds:.1f} s")
            raise StageFailed(stage, exc) from exc
        seconds = time.perf_counter() - started
        logger.info("stage %s finished in %.1f s", stage.name, seconds)
        self.cache.store(stage.name, key, info, seconds)
        return StageOutcome(stage.name, stage.title, info, seconds, False,
                            self.cache.output_dir(stage.name))

    def _report(self, stage: StageSpec, outcome: StageOutcome, prefix: str) -> None:
        detail = stage.describe(outcome.info) if stage.describe else ""
        when = "cached, unchanged inputs" if outcome.cached else f"{outcome.seconds:.1f} s"
        mark = "[dim]↺[/dim]" if outcome.cached else "[green]✓[/green]"
        self.console.print(f"{mark} {prefix} ({when}){': ' + detail if detail else ''}",
                           highlight=False)
