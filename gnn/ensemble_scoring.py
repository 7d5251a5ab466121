"""Exact, incremental scores of an ensemble of networks on one :class:`LocalGraph`.

An ensemble detector (:class:`gnn.detector.AccountDetector` with several ``members_``) scores
the calibrated mean of its members' logits. :class:`EnsembleScorer` keeps that score current
as the graph changes, with the interface of :class:`~gnn.local_scoring.LocalScorer` the service
uses: one :class:`LocalScorer` per member, each keeping its own logits and embeddings current
on the same graph (the graph, its adjacency and the changed rows are shared: a change costs
one network's work per member, not a graph per member), the calibration applied once on their
mean.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gnn.calibration import ScoreCalibrator
from gnn.local_scoring import INPUT_CACHE_ROWS, LocalGraph, LocalScorer, ScoreJournal
from gnn.models.sep_hetero_gnn import SepHeteroGNN


class _Logits:
    """The members' "calibration": their kept ``scores_`` are their logits (float64)."""

    @staticmethod
    def transform(logits: np.ndarray) -> np.ndarray:
        return np.asarray(logits, dtype=np.float64)


class EnsembleScorer:
    """Calibrated mean-logit scores of ``members`` on a :class:`LocalGraph`, kept current.

    :meth:`fit`, :meth:`mark`, :meth:`current`, :meth:`scores`, :meth:`logits`, :meth:`save`,
    :meth:`restore`, :meth:`map_kept` and the input-cache methods do what
    :class:`~gnn.local_scoring.LocalScorer`'s do, for every member; :attr:`scores_` and
    :attr:`journal` are the ensemble's. Files (:meth:`save`, a ``spill`` directory) hold each
    member's under ``member_<i>/`` and the ensemble's scores as ``scores.npy``.

    Parameters
    ----------
    members
        The trained networks (the detector's ``members_``).
    calibrator
        Maps the members' mean logit to a calibrated score.
    num_threads, residual, input_cache_rows
        As :class:`LocalScorer`'s, for every member (so the input caches take
        ``len(members)`` times the rows' memory).
    """

    def __init__(self, members: list[SepHeteroGNN], calibrator: ScoreCalibrator,
                 num_threads: int | None = None, residual: bool = False,
                 input_cache_rows: int = INPUT_CACHE_ROWS) -> None:
        self.members = [LocalScorer(m, _Logits(), num_threads, residual,
                                    input_cache_rows=input_cache_rows) for m in members]
        self.model = members[0]
        self.calibrator = calibrator
        self.residual = residual
        #: The target rows whose :attr:`scores_` :meth:`current` changed (:class:`ScoreJournal`).
        self.journal = ScoreJournal()

    @property
    def hops(self) -> int:
        """How far a change reaches: the members' number of layers."""
        return max(m.hops for m in self.members)

    def _mean(self, logits: list[np.ndarray]) -> np.ndarray:
        """The calibrated score of the members' mean logit, in float32 as a batch pass."""
        return self.calibrator.transform(
            np.mean(np.stack(logits).astype(np.float32), axis=0)).astype(np.float64)

    def _fresh(self, logits: list[np.ndarray]) -> np.ndarray:
        """Every target row's score from every member's kept logits, noted as new."""
        self.scores_ = self._mean(logits)
        self._held = len(self.scores_)  # target rows scored (scores_ may hold room beyond)
        self.journal.reset()
        return self.scores_.copy()

    def fit(self, graph: LocalGraph, spill: Path | None = None) -> np.ndarray:
        """:meth:`LocalScorer.fit` for each member (spilled under ``spill/member_<i>``)."""
        return self._fresh([m.fit(graph, None if spill is None else _member_dir(spill, i))
                            for i, m in enumerate(self.members)])

    def save(self, directory: Path) -> None:
        """:meth:`LocalScorer.save` for each member under ``member_<i>``; the ensemble's
        scores as ``scores.npy``."""
        for i, m in enumerate(self.members):
            m.save(_member_dir(directory, i))
        np.save(directory / "scores.npy", self.scores_[:self._held])

    def map_kept(self, directory: Path) -> None:
        """:meth:`LocalScorer.map_kept` for each member from ``member_<i>``."""
        for i, m in enumerate(self.members):
            m.map_kept(directory / _MEMBER_DIR.format(i))

    def restore(self, graph: LocalGraph, directory: Path) -> np.ndarray:
        """:meth:`LocalScorer.restore` for each member from ``member_<i>``; every target row's
        score."""
        return self._fresh([m.restore(graph, directory / _MEMBER_DIR.format(i))
                            for i, m in enumerate(self.members)])

    def drop_input_caches(self) -> None:
        """:meth:`LocalScorer.drop_input_caches` for each member."""
        for m in self.members:
            m.drop_input_caches()

    def refill_input_caches(self, graph: LocalGraph) -> None:
        """:meth:`LocalScorer.refill_input_caches` for each member."""
        for m in self.members:
            m.refill_input_caches(graph)

    def mark(self, graph: LocalGraph, changed: dict[str, np.ndarray]) -> None:
        """:meth:`LocalScorer.mark` for each member."""
        for m in self.members:
            m.mark(graph, changed)
        self._grow(graph)

    def _grow(self, graph: LocalGraph) -> None:
        """Room in :attr:`scores_` for the target rows added to ``graph`` (NaN until read)."""
        self._held = max(self._held, graph.num_nodes.get(self.model.target_type, 0))
        size = min(len(m.scores_) for m in self.members)
        if size > len(self.scores_):
            grown = np.full(size, np.nan)
            grown[:len(self.scores_)] = self.scores_
            self.scores_ = grown

    def current(self, graph: LocalGraph, rows: np.ndarray) -> np.ndarray:
        """Current calibrated scores of target ``rows``: each member's logits made current
        (:meth:`LocalScorer.current`), their mean calibrated."""
        rows = np.asarray(rows, dtype=np.int64)
        new = self._mean([m.current(graph, rows) for m in self.members])
        self._grow(graph)
        changed = rows[~(self.scores_[rows] == new)]  # NaN (never scored) counts as changed
        self.scores_[rows] = new
        if len(changed):
            self.journal.wrote(changed, len(self.scores_))
        return new

    def logits(self, graph: LocalGraph, rows: np.ndarray) -> np.ndarray:
        """The members' mean logit of target ``rows`` from scratch (:meth:`LocalScorer.logits`)."""
        return np.mean(np.stack([m.logits(graph, rows) for m in self.members]), axis=0)

    def scores(self, graph: LocalGraph, rows: np.ndarray) -> np.ndarray:
        """Calibrated scores of target ``rows`` from scratch."""
        if len(rows) == 0:
            return np.empty(0)
        return self._mean([m.logits(graph, rows) for m in self.members])


#: Where a member's files lie in a directory of :class:`EnsembleScorer`'s.
_MEMBER_DIR = "member_{}"


def _member_dir(directory: Path, member: int) -> Path:
    """``directory``'s subdirectory of ``member``, made if missing."""
    path = directory / _MEMBER_DIR.format(member)
    path.mkdir(exist_ok=True)
    return path
