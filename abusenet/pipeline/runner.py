"""Run a list of stages in order, skipping those whose inputs are unchanged since their last run.

A stage is a :class:`StageSpec`: a name, a callable that fills a fresh output directory and
returns a small JSON ``info``, the fingerprint material of its own inputs (settings, input files)
and the stages it reads from. Its fingerprint chains its upstream stages' fingerprints, so a
change anywhere reruns everything downstream of it and nothing else.

Each stage that runs is measured: wall seconds, its CPU seconds and, on Linux, its peak
resident memory (:class:`PeakMemory`), kept in the stage's record; the wall seconds and peak are
shown after it.

With ``isolate`` each stage runs in a forked child process (:func:`run_in_child`): what it
allocated goes back to the operating system when it ends, so a run's peak is its largest
stage's, not the sum of what every stage left behind in one process. Stages only communicate
through their output files and returned ``info``, so the contract is the same either way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import sys
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
from graph.rings.forked import ForkedCall, ForkedProcessDied

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
    """A stage as the run left it: its info, where its outputs are, and whether it was cached.

    ``memory`` is the stage's :meth:`PeakMemory.stop` measurement when it ran (or when its
    cached record has one), else empty.
    """

    name: str
    title: str
    info: dict[str, Any]
    seconds: float
    cached: bool
    output_dir: Path
    memory: dict[str, float] = field(default_factory=dict)


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_mib(field_name: str) -> float | None:
    """``VmRSS``/``VmHWM`` of this process in MiB from ``/proc/self/status`` (``None``: none)."""
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return None


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads) and of the child processes
    it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _children_peak_mib() -> float:
    """The largest peak RSS of any finished child process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class PeakMemory:
    """Peak resident memory of one stage, in MiB.

    :meth:`start` resets the kernel's high-water mark of this process (``VmHWM``, by writing
    ``5`` to ``/proc/self/clear_refs``) to its current RSS; :meth:`stop` reads it back. The peak
    therefore includes what earlier stages still hold. Child processes (``ru_maxrss`` of
    ``RUSAGE_CHILDREN``) cannot be reset: their peak counts for the stage only when it rose above
    every earlier child's during the stage. Where ``/proc`` is missing or read-only (not Linux)
    the process peak is left out. It also counts the stage's CPU seconds, its threads' and its
    finished child processes' (the candidate search's forked searches, say): on a shared
    machine they tell a slower stage from a busier machine, which wall seconds do not.
    """

    def __init__(self) -> None:
        self.rss_start: float | None = None
        self.children_before = 0.0
        self.cpu_start = 0.0
        self.resettable = False

    def start(self) -> None:
        """Begin measuring: reset the high-water mark and note the children's peak so far."""
        try:
            _CLEAR_REFS.write_text("5")
            self.resettable = True
        except OSError:
            self.resettable = False
        self.rss_start = _status_mib("VmRSS")
        self.children_before = _children_peak_mib()
        self.cpu_start = _cpu_seconds()

    def stop(self) -> dict[str, float]:
        """The measurement since :meth:`start`.

        Returns
        -------
        dict
            ``rss_start_mib`` (RSS when the stage began), ``rss_end_mib``, ``peak_rss_mib``
            (this process's peak during the stage), ``children_peak_mib`` (a child process's
            peak, when one during the stage exceeded every earlier one) and ``cpu_s`` (user +
            system CPU seconds since :meth:`start`, of this process and the children it waited
            for); keys whose value could not be measured are left out.
        """
        found: dict[str, float | None] = {
            "cpu_s": _cpu_seconds() - self.cpu_start,
            "rss_start_mib": self.rss_start,
            "rss_end_mib": _status_mib("VmRSS"),
            "peak_rss_mib": _status_mib("VmHWM") if self.resettable else None,
        }
        children = _children_peak_mib()
        if children > self.children_before:
            found["children_peak_mib"] = children
        return {key: round(value, 1) for key, value in found.items() if value is not None}


class StageProcessDied(RuntimeError):
    """The child process running a stage ended without a result (killed, out of memory)."""


def can_fork() -> bool:
    """Whether stages can run in forked child processes here (POSIX ``fork``)."""
    return hasattr(os, "fork")


def run_in_child(
    run: Callable[[Path], dict[str, Any]],
    out: Path,
    waiting: contextlib.AbstractContextManager[Any] | None = None,
) -> tuple[dict[str, Any], dict[str, float]]:
    """``run(out)`` in a forked child process; its ``info`` and its :class:`PeakMemory`.

    ``waiting`` (a spinner, say) is entered in the parent after the fork, so that no thread of
    it is running when the child is made. The child inherits everything the parent holds
    (settings, imported modules); what it allocates is returned to the operating system when it
    exits. An exception in the child is raised again here: the same exception when it pickles,
    else a :class:`RuntimeError` with its type, message and traceback.

    Raises
    ------
    StageProcessDied
        When the child ends without a result (a signal, e.g. the kernel's out-of-memory killer).
    """
    call = ForkedCall("stage", _measured, run, out)
    try:
        with waiting or contextlib.nullcontext():
            return call.result()
    except ForkedProcessDied as exc:
        raise StageProcessDied(f"the stage's process ended by {exc.how} without a result "
                               "(signal 9: often out of memory)") from None
    finally:  # interrupted: stop the child before going on
        call.close(signal.SIGTERM)


def _measured(run: Callable[[Path], dict[str, Any]], out: Path
              ) -> tuple[dict[str, Any], dict[str, float]]:
    """``run(out)`` and the :class:`PeakMemory` of the process running it."""
    memory = PeakMemory()
    memory.start()
    return run(out), memory.stop()


def memory_text(memory: dict[str, float]) -> str:
    """``"peak 1,234 MiB"`` (the larger of the process's and a child's peak), or ``""``."""
    peak = max(memory.get("peak_rss_mib", 0.0), memory.get("children_peak_mib", 0.0))
    return f"peak {peak:,.0f} MiB" if peak else ""


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
    isolate
        Run each stage in a forked child process (:func:`run_in_child`), so that its memory is
        given back when it ends; needs :func:`can_fork`.
    """

    cache: StageCache
    console: Console = field(default_factory=lambda: Console(stderr=True))
    force: bool = False
    isolate: bool = False
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
                                       self.cache.output_dir(stage.name), record.memory)
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
                    info, used = self._call(stage, tmp, self.console.status(f"{prefix} ..."))
                else:
                    self.console.print(f"[bold]{prefix}[/bold] ...")
                    info, used = self._call(stage, tmp)
        except Exception as exc:
            seconds = time.perf_counter() - started
            logger.info("stage %s failed after %.1f s: %s: %s", stage.name, seconds,
                        type(exc).__name__, exc, exc_info=logger.isEnabledFor(logging.DEBUG))
            self.console.print(f"[red]✗[/red] {prefix} failed after {seconds:.1f} s")
            raise StageFailed(stage, exc) from exc
        seconds = time.perf_counter() - started
        logger.info("stage %s finished in %.1f s", stage.name, seconds)
        if used:
            logger.info("stage %s measured (MiB, CPU s): %s", stage.name, used)
        self.cache.store(stage.name, key, info, seconds, used)
        return StageOutcome(stage.name, stage.title, info, seconds, False,
                            self.cache.output_dir(stage.name), used)

    def _call(
        self, stage: StageSpec, out: Path,
        waiting: contextlib.AbstractContextManager[Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, float]]:
        """``stage.run(out)`` (inside ``waiting``), here or in a child process; its info and
        memory measurement."""
        if self.isolate:
            return run_in_child(stage.run, out, waiting)
        memory = PeakMemory()
        memory.start()
        with waiting or contextlib.nullcontext():
            info = stage.run(out)
        return info, memory.stop()

    def _report(self, stage: StageSpec, outcome: StageOutcome, prefix: str) -> None:
        detail = stage.describe(outcome.info) if stage.describe else ""
        peak = memory_text(outcome.memory)
        when = ("cached, unchanged inputs" if outcome.cached
                else f"{outcome.seconds:.1f} s{', ' + peak if peak else ''}")
        mark = "[dim]↺[/dim]" if outcome.cached else "[green]✓[/green]"
        self.console.print(f"{mark} {prefix} ({when}){': ' + detail if detail else ''}",
                           highlight=False)
