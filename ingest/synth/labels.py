"""What investigators know: a partial, noisy labelling of the truth.

Whole rings go unlabelled, members of labelled rings are only partly labelled (and a few are
labelled legitimate by mistake), a sample of benign accounts is labelled, a few of them wrongly.
A label's time is when it became known: days after a ring's activity, or within the window for
benign accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.synth.config import SynthConfig
from ingest.synth.rings import Rings
from ingest.synth.world import DAY, Population


@dataclass
class Labels:
    """Observed labels of one chunk, sorted by account (``local`` = index within the chunk)."""

    local: np.ndarray
    label: np.ndarray
    ts: np.ndarray
    ring_labelled: np.ndarray  # per ring: at least one member appears in the labels

    def __len__(self) -> int:
        return len(self.local)


def draw_labels(rng: np.random.Generator, pop: Population, rings: Rings, config: SynthConfig,
                start: int, end: int) -> Labels:
    """Draw the observed labels of the accounts of ``pop``."""
    member_ring = rings.member_ring
    hidden = int(round(config.unlabelled_ring_fraction * len(rings)))
    labelled_ring = rng.permutation(len(rings)) >= hidden
    drawn = rng.random(len(member_ring)) < config.ring_member_label_rate
    seen = labelled_ring[member_ring] & drawn
    abusers = rings.member_local[seen]
    abuser_label = (rng.random(len(abusers)) >= config.missed_abuser_rate).astype(np.int8)
    abuser_ts = rings.last_ts[member_ring[seen]] + rng.exponential(3 * DAY, len(abusers))

    benign = np.ones(pop.size, dtype=bool)
    benign[rings.member_local] = False
    benign &= rng.random(pop.size) < config.benign_label_rate
    normal = np.flatnonzero(benign)
    normal_label = (rng.random(len(normal)) < config.benign_mislabel_rate).astype(np.int8)
    known_from = np.maximum(pop.signup[normal], start)
    normal_ts = known_from + rng.random(len(normal)) * (end + 7 * DAY - known_from)

    local = np.concatenate([abusers, normal])
    order = np.argsort(local, kind="stable")
    ring_has_label = np.zeros(len(rings), dtype=bool)
    ring_has_label[member_ring[seen]] = True
    return Labels(
        local=local[order],
        label=np.concatenate([abuser_label, normal_label])[order],
        ts=np.concatenate([abuser_ts, normal_ts]).astype(np.int64)[order],
        ring_labelled=ring_has_label,
    )
