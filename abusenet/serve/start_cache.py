"""The service's start caches: what a start computed from a run's snapshot and model, and the
stored events as the start holds them, saved under the run's work directory and read back at
later starts; and the spill directory of a reload's whole pass.

- The start cache (``.work/serve/start/<key>``, :func:`start_key`): the GNN's kept embeddings
  (memory-mapped when read back) and scores, the boosted column (:func:`fit_and_save_start`,
  :func:`restore_start`), and the published XGB-Graph's scores (a file named by the
  challenger's hash, :func:`xgb_start_file`, :func:`save_xgb_start`,
  :func:`restore_xgb_start`). Each is checked when read: a few accounts scored from scratch
  must get the saved scores.
- The stored events' cache (``.work/serve/events/<key>``, :func:`events_key`,
  :func:`save_events`): the live features' arrays, their busy entities' running rows over
  the stored events (a folder of its own, added to a cache saved without it:
  :func:`save_busy`) and the event ids' hashes.
- A reload's (or a rescore's) GNN pass: its kept embeddings written into a directory of the
  process under the start folder and mapped from there (:func:`fit_spilled`).

Every cache is written into a hidden temporary directory (or file) beside it, flushed to disk
and renamed when complete, so a reader finds all of it or nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from abusenet.pipeline.stages.files import EVENTS, MODEL, RINGS, SNAPSHOT
from abusenet.serve.durable_log import SEGMENT_PREFIX
from abusenet.validation.challenger import CHALLENGER_DIR, GNN, read_published
from gnn.boosted import LiveBoostedColumn
from gnn.live_xgb_graph import LiveXGBGraph
from gnn.local_scoring import LocalGraph, LocalScorer
from graph.live_features import BUSY, LiveFeatures
from ingest.store import event_files

log = logging.getLogger(__name__)

#: Inside a run's work directory: what the start computed, kept for the next start (a folder
#: of its own beside the service's token file, so that replacing a cache removes caches only).
START = ("serve", "start")
#: Changes when what the start cache holds or how the start computes it changes (so older
#: caches are not read).
START_FORMAT = 1
#: Target rows scored from scratch to check a start cache before it is used, and how close
#: their scores must be to the saved ones (float32 sums in another order differ by ~1e-5; a
#: cache of another graph or model, by far more).
_START_CHECK_ROWS = 32
#: Inside a run's work directory: the stored events as the start holds them (a folder of its
#: own: replacing its cache removes that folder's caches only).
EVENTS_CACHE = ("serve", "events")
#: Changes when what the stored events' cache holds changes.
EVENTS_FORMAT = 2
#: The stored events' cache's description, written last (a cache without it is not read).
EVENTS_META = "events.json"
#: The node ids the stored events' cache's events added to the snapshot's, per type in order.
EVENTS_ADDED = "added_ids.json"
_START_CHECK_ATOL = 1e-4
#: Numbers a process's spill directories (:func:`fit_spilled`).
_SPILLS = itertools.count()


def run_paths(run_dir: Path) -> dict[str, Path]:
    """Where a batch run keeps its event store, snapshot, model and rings, and where the
    service keeps its start caches."""
    work = run_dir / ".work"
    return {
        "events": work / "ingest" / EVENTS,
        "snapshot": work / SNAPSHOT / SNAPSHOT,
        "model": run_dir / MODEL,
        "rings": run_dir / RINGS,
        "start": work.joinpath(*START),
        "events_cache": work.joinpath(*EVENTS_CACHE),
    }


def start_key(model_dir: Path, snapshot_dir: Path) -> str:
    """A content key of what the start computes from a snapshot and a model (the start cache's
    name, :meth:`GraphState.load`): the model's version, the snapshot's manifest, each of its
    files' name, size and modification time, and :data:`START_FORMAT`."""
    return _snapshot_digest(f"{START_FORMAT}:{model_version(model_dir)}:",
                            snapshot_dir).hexdigest()[:16]


def _snapshot_digest(prefix: str, snapshot_dir: Path) -> Any:
    """A SHA-256 of ``prefix``, the snapshot's manifest and its files (:func:`_digest_files`),
    to be continued or read."""
    digest = hashlib.sha256(prefix.encode())
    digest.update((snapshot_dir / "manifest.json").read_bytes())
    _digest_files(digest, snapshot_dir,
                  sorted(p for p in snapshot_dir.rglob("*") if p.is_file()))
    return digest


def _digest_files(digest: Any, root: Path, paths: Iterable[Path]) -> None:
    """Add each of ``paths``' name (relative to ``root``), size and modification time
    (:func:`file_stats`) to ``digest``."""
    for name, size, mtime in file_stats(root, paths):
        digest.update(f"{name}:{size}:{mtime};".encode())


def start_caches(run_dir: Path, model_dir: Path | None = None,
                 snapshot_dir: Path | None = None) -> tuple[Path, Path]:
    """The start cache and the stored events' cache that :meth:`GraphState.load` of these
    arguments reads (whether they exist or not: :func:`cache_complete`)."""
    paths = run_paths(run_dir)
    model_dir, snapshot_dir = model_dir or paths["model"], snapshot_dir or paths["snapshot"]
    return (paths["start"] / start_key(model_dir, snapshot_dir),
            paths["events_cache"] / events_key(paths["events"], snapshot_dir))


def read_ahead(caches: Sequence[Path]) -> int:
    """Ask the kernel to read every file of ``caches`` (folders, as :func:`start_caches`
    names them) into its page cache (``posix_fadvise`` ``WILLNEED``; the reads go on in the
    background): the arrays a start only maps (the kept embeddings, the events' times) are then
    found in memory by the first requests instead of read from disk a page at a time, which
    after other processes' use of the memory can be the first seconds' wait. Bytes asked for
    (0 where the platform has no ``posix_fadvise``)."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return 0
    asked = 0
    for cache in caches:
        for path in sorted(cache.rglob("*")) if cache.is_dir() else ():
            if not path.is_file():
                continue
            with contextlib.suppress(OSError):
                fd = os.open(path, os.O_RDONLY)
                try:
                    advise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
                    asked += os.fstat(fd).st_size
                finally:
                    os.close(fd)
    return asked


def cache_complete(cache: Path) -> bool:
    """Whether ``cache`` (one of :func:`start_caches`) was written whole (its last file is
    there)."""
    return (cache / "scores.npy").is_file() or (cache / EVENTS_META).is_file()


def events_key(events_dir: Path, snapshot_dir: Path) -> str:
    """A content key of the stored events as the start holds them (the stored events' cache
    name, :meth:`GraphState._load_events`): :data:`EVENTS_FORMAT`, the snapshot's manifest and
    files (the node rows the events are indexed by), and each stored event file's path, size
    and modification time, the service's segments left out (the cache names those it holds,
    and a start appends the ones logged since: :func:`stored_files`)."""
    digest = _snapshot_digest(f"{EVENTS_FORMAT}:", snapshot_dir)
    _digest_files(digest, events_dir, stored_files(events_dir)[0])
    return digest.hexdigest()[:16]


def stored_files(events_dir: Path) -> tuple[list[Path], list[Path]]:
    """The event store's files in the order the start reads them: the stored (ingested)
    files, sorted, then the service's segments, oldest first (their names begin with the
    time they were written). A segment logged later comes last, so the events held after
    appending it to a cache are in the order a read of every file gives."""
    stored, segments = [], []
    for path in event_files(events_dir):
        (segments if path.name.startswith(SEGMENT_PREFIX) else stored).append(path)
    segments.sort(key=lambda p: (p.name, p.parent.name))
    return stored, segments


def file_stats(root: Path, paths: Iterable[Path]) -> list[list[Any]]:
    """Each of ``paths``' name (relative to ``root``), size and modification time."""
    return [[str(p.relative_to(root)), info.st_size, info.st_mtime_ns]
            for p, info in ((p, p.stat()) for p in paths)]


def model_version(model_dir: Path) -> str:
    """A short content hash of the saved detector's weights and metadata."""
    digest = hashlib.sha256()
    for name in ("metadata.json", "model.pt"):
        digest.update((model_dir / name).read_bytes())
    return digest.hexdigest()[:12]


def xgb_start_file(start: Path, model_dir: Path) -> Path | None:
    """Where the start cache ``start`` keeps the scores of the XGB-Graph that ``model_dir``
    publishes (``None`` when it publishes the GNN): a file named by a hash of the saved
    XGB-Graph (its trees, scaler and calibrator), which :func:`start_key` does not cover."""
    if read_published(model_dir)["candidate"] == GNN:
        return None
    digest = hashlib.sha256()
    for name in ("model.json", "metadata.json"):
        digest.update((model_dir / CHALLENGER_DIR / name).read_bytes())
    return start / f"xgb_graph_{digest.hexdigest()[:16]}.npy"


def restore_xgb_start(saved: Path, graph: LocalGraph, xgb: LiveXGBGraph) -> bool:
    """Read XGB-Graph's start scores ``saved`` into ``xgb`` (its hubs' sums built on
    ``graph``); False (nothing kept) when there are none, they cannot be read, or a few
    accounts scored from scratch disagree with them."""
    if not saved.is_file():
        return False
    try:
        scores = np.load(saved)
        xgb.restore(graph, scores)
    except (OSError, ValueError, EOFError) as err:
        log.warning("XGB-Graph start scores %s cannot be read (%s): computing again", saved, err)
        return False
    if not _agrees_now(scores, partial(xgb.scores, graph)):
        log.warning("XGB-Graph start scores %s disagree with scores computed now: computing "
                    "again", saved)
        return False
    log.info("XGB-Graph start scores read from %s", saved)
    return True


def save_xgb_start(saved: Path, scores: np.ndarray) -> None:
    """Write XGB-Graph's start scores to ``saved`` (in the start cache): into a temporary file
    beside it, flushed to disk and renamed when complete; the scores of other XGB-Graphs saved
    there before (a challenger published since) and partial files of processes that are gone
    are removed. One that cannot be written is skipped with a warning."""
    partial = saved.parent / f".{saved.stem}.{os.getpid()}.npy"
    try:
        with open(partial, "wb") as out:
            np.save(out, scores)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, saved)
        for old in saved.parent.glob("*xgb_graph_*.npy"):
            if old != saved and not _partial_of_live_process(old):
                old.unlink(missing_ok=True)
    except OSError as err:
        with contextlib.suppress(OSError):
            partial.unlink()
        log.warning("XGB-Graph start scores %s not saved: %s", saved, err)


def _partial_of_live_process(path: Path) -> bool:
    """Whether ``path`` is a partial file (``.<name>.<pid>.npy``) of a process still running."""
    parts = path.name.split(".")
    if not path.name.startswith(".") or len(parts) < 4 or not parts[-2].isdigit():
        return False
    try:
        os.kill(int(parts[-2]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _agrees_now(saved: np.ndarray, score: Callable[[np.ndarray], np.ndarray]) -> bool:
    """Whether :data:`_START_CHECK_ROWS` rows spread over ``saved`` (saved scores), scored now
    by ``score`` (rows -> scores), get the saved scores (to :data:`_START_CHECK_ATOL`)."""
    rows = np.unique(np.linspace(0, len(saved) - 1, _START_CHECK_ROWS).astype(np.int64)) if len(
        saved) else np.empty(0, dtype=np.int64)
    return bool(np.allclose(score(rows), saved[rows], rtol=0, atol=_START_CHECK_ATOL))


def restore_start(start: Path, graph: LocalGraph, boosted: LiveBoostedColumn | None,
                   scorer: LocalScorer) -> bool:
    """Read the start cache ``start`` into ``boosted`` and ``scorer`` (fitted on ``graph``);
    False (nothing to be trusted read) when there is none, it cannot be read, or a few target
    rows scored from scratch disagree with its scores."""
    if not (start / "scores.npy").is_file():
        return False
    try:
        if boosted is not None:
            boosted.restore(graph, start)
        saved = scorer.restore(graph, start)
    except (OSError, ValueError, EOFError) as err:
        log.warning("start cache %s cannot be read (%s): computing again", start, err)
        return False
    if not _agrees_now(saved, partial(scorer.scores, graph)):
        log.warning("start cache %s disagrees with scores computed now: computing again", start)
        return False
    log.info("start read from %s", start)
    return True


def fit_and_save_start(start: Path, graph: LocalGraph, boosted: LiveBoostedColumn | None,
                        scorer: LocalScorer) -> None:
    """Fit ``scorer`` on ``graph`` and save what the start computed (``boosted`` fitted) as
    the start cache ``start``: the kept embeddings written as computed into a temporary
    directory beside it (:meth:`LocalScorer.fit`'s ``spill``), then the scores and the boosted
    column, the directory renamed (a reader finds all of it or nothing; other caches of the
    run removed) and the kept embeddings mapped from it. A cache that cannot be written (a
    read-only run, a full disk) is skipped with a warning, the scorer fitted in memory."""
    partial = start.parent / f".{start.name}.{os.getpid()}"
    fitted = False
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        scorer.fit(graph, spill=partial)
        fitted = True
        scorer.save(partial)
        if boosted is not None:
            boosted.save(graph, partial)
        _install_cache(partial, start)
    except OSError as err:
        shutil.rmtree(partial, ignore_errors=True)
        log.warning("start cache %s not saved: %s", start, err)
        if not fitted:
            scorer.fit(graph)
        return
    scorer.map_kept(start)


def fit_spilled(scorer: LocalScorer, graph: LocalGraph, spill: Path | None) -> None:
    """Fit ``scorer`` on ``graph`` (a reload's or a rescore's whole pass), its kept embeddings
    written into a directory of this process under ``spill`` as computed
    (:meth:`LocalScorer.fit`'s ``spill``) and mapped back from there afresh
    (:meth:`LocalScorer.map_kept`): file pages, read in where needed and dropped by the kernel
    when memory is short, as a start's from its cache, not the process's own memory. The
    directory is removed once they are mapped: the files live on, unnamed, until the scorer
    is dropped or the process ends. Directories left by processes that are gone are removed
    first. In memory when ``spill`` is ``None`` or cannot be written (with a warning)."""
    if spill is None:
        scorer.fit(graph)
        return
    directory = spill / f".reload.{os.getpid()}.{next(_SPILLS)}"
    try:
        if spill.is_dir():
            for old in spill.glob(".reload.*"):
                if not _partial_of_live_process(old):
                    shutil.rmtree(old, ignore_errors=True)
        directory.mkdir(parents=True)
        scorer.fit(graph, spill=directory)
        scorer.map_kept(directory)
    except OSError as err:
        log.warning("whole pass not spilled to %s (%s): kept in memory", directory, err)
        scorer.fit(graph)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _install_cache(partial: Path, cache: Path) -> None:
    """Rename the complete cache directory ``partial`` to ``cache`` once its files are on disk
    (:func:`_sync`), first removing the other caches beside it (another key's, or ``cache``
    itself); hidden ones (other processes' partial caches) are left alone."""
    _sync(partial)
    for old in cache.parent.iterdir():
        if old.is_dir() and old.name != partial.name and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    os.replace(partial, cache)
    _sync(cache.parent, files=False)


def _sync(directory: Path, files: bool = True) -> None:
    """Flush ``directory``'s files and folders, theirs in turn (unless not ``files``), and
    the directory itself to disk."""
    if files:
        for path in directory.iterdir():
            if path.is_file():
                with open(path, "rb+") as out:
                    os.fsync(out.fileno())
            elif path.is_dir():
                _sync(path)
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def save_events(cache: Path, live: LiveFeatures, stored_ids: np.ndarray,
                 segment_ids: np.ndarray, meta: dict[str, Any],
                 added: dict[str, list[str]]) -> bool:
    """Save the stored events' cache ``cache``: ``live`` 's arrays
    (:meth:`~graph.live_features.LiveFeatures.save`), the sorted id hashes, those of the
    segments' events in order, the node ids the events added to the snapshot's (``added``)
    and ``meta``, written into a temporary directory beside it that is renamed when complete
    (other caches of the run removed); whether it was. One that cannot be written is skipped
    with a warning."""
    partial = cache.parent / f".{cache.name}.{os.getpid()}"
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        live.save(partial)
        np.save(partial / "stored_ids.npy", stored_ids)
        np.save(partial / "segment_ids.npy", segment_ids)
        (partial / EVENTS_ADDED).write_text(json.dumps(added))
        (partial / EVENTS_META).write_text(json.dumps(meta))
        _install_cache(partial, cache)
    except OSError as err:
        shutil.rmtree(partial, ignore_errors=True)
        log.warning("stored events' cache %s not saved: %s", cache, err)
        return False
    return True


def save_busy(cache: Path, live: LiveFeatures) -> bool:
    """Add the busy entities' running rows over ``live``'s stored events
    (:meth:`~graph.live_features.LiveFeatures.save_busy`) to the stored events' cache
    ``cache`` it was restored from (saved without them, or with ones that cannot be read):
    written into a temporary folder inside it and renamed to its :data:`BUSY` folder when
    complete (one there before moved aside first and removed); whether they were. Ones that
    cannot be written are skipped with a warning."""
    partial, old = cache / f".{BUSY}.{os.getpid()}", cache / f".{BUSY}.old.{os.getpid()}"
    try:
        for path in (partial, old):
            shutil.rmtree(path, ignore_errors=True)
        live.save_busy(partial)
        _sync(partial)
        if (cache / BUSY).exists():
            os.replace(cache / BUSY, old)
        os.replace(partial, cache / BUSY)
        _sync(cache, files=False)
    except OSError as err:
        shutil.rmtree(partial, ignore_errors=True)
        log.warning("busy entities' rows not saved in %s: %s", cache, err)
        return False
    finally:
        shutil.rmtree(old, ignore_errors=True)
    log.info("busy entities' rows saved in %s", cache)
    return True
