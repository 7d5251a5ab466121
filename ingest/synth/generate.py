"""The generator's entry point: chunk after chunk of accounts -> events, labels, ring truth."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.files import replace_dir
from ingest.progress import progress_display
from ingest.synth.benign import benign_events
from ingest.synth.config import SynthConfig
from ingest.synth.events import EventBatch
from ingest.synth.honest import KIND_NAMES as HONEST_KIND_NAMES
from ingest.synth.honest import HonestFlows, honest_flow_events, plan_honest_flows
from ingest.synth.ids import decimal_ids, decimal_width
from ingest.synth.labels import Labels, draw_labels
from ingest.synth.output import (
    TS_TYPE,
    IdFormatter,
    PartWriter,
    TableAppender,
    events_table,
    seconds_to_ts,
)
from ingest.synth.rings import (
    FRESH_KINDS,
    KIND_NAMES,
    Rings,
    dress_fresh_members,
    plan_rings,
    ring_events,
)
from ingest.synth.world import (
    CARD_RING,
    DAY,
    DEV_RING,
    IP_RING,
    RING_SLOTS,
    Pools,
    Population,
    build_population,
)

FORMATS = ("parquet", "csv.gz")
MIN_ACCOUNTS = 100

LABEL_SCHEMA = pa.schema([("account_id", pa.string()), ("label", pa.int8()), ("ts", TS_TYPE)])
TRUTH_SCHEMA = pa.schema([
    ("account_id", pa.string()), ("is_abusive", pa.bool_()), ("ring_id", pa.string()),
])
RING_SCHEMA = pa.schema([
    ("ring_id", pa.string()),
    ("kind", pa.string()),
    ("size", pa.int32()),
    ("members", pa.list_(pa.string())),
    ("entities", pa.list_(pa.string())),
    ("labelled", pa.bool_()),
    ("first_ts", TS_TYPE),
    ("last_ts", TS_TYPE),
])
HONEST_SCHEMA = pa.schema([
    ("group_id", pa.string()), ("kind", pa.string()), ("size", pa.int32()),
    ("members", pa.list_(pa.string())),
])
_RING_ENTITY_TYPES = {DEV_RING: "Device", CARD_RING: "PaymentMethod", IP_RING: "IP"}
_SALT_SHIFT = np.uint64(56)
_INDEX_MASK = np.uint64((1 << 56) - 1)


@dataclass(frozen=True)
class SynthResult:
    """Where the generator wrote its files, and how much it wrote."""

    out_dir: Path
    event_files: list[Path]
    labels_path: Path
    rings_path: Path
    truth_path: Path
    n_accounts: int
    n_events: int
    n_abusive: int
    n_rings: int
    n_labels: int
    seconds: float

    @property
    def events_dir(self) -> Path:
        """The directory holding the event parts."""
        return self.out_dir / "events"


def generate(
    out_dir: str | os.PathLike[str],
    *,
    n_accounts: int = 10_000,
    seed: int = 0,
    days: int = 30,
    fmt: str = "parquet",
    progress: bool = True,
    overwrite: bool = False,
    **knobs,
) -> SynthResult:
    """Generate realistic interaction logs with planted abuse rings and ground truth.

    Writes into ``out_dir``: ``events/part-*.parquet`` (or ``.csv.gz``) with canonical event
    columns plus ``channel`` and ``status``; ``labels.csv`` (``account_id,label,ts``: partial and
    noisy); ``rings.parquet`` (``ring_id, kind, size, members, entities, labelled, first_ts,
    last_ts``); ``truth_accounts.parquet`` (``account_id, is_abusive, ring_id``);
    ``honest_flows.parquet`` (``group_id, kind, size, members``: the honest look-alikes of
    laundering flows, empty unless ``honest_flow_fraction`` > 0) and ``synth.json`` (settings and
    counts). The directory appears complete or not at all.

    Parameters
    ----------
    out_dir
        Output directory; must not exist or be empty unless ``overwrite``.
    n_accounts
        Accounts in the population (at least 100).
    seed
        Random seed; the same seed and knobs give byte-identical event data.
    days
        Length of the simulated window in days (at least 2).
    fmt
        ``"parquet"`` or ``"csv.gz"`` for the event parts.
    progress
        Show a progress bar on stderr.
    overwrite
        Replace an existing non-empty ``out_dir``.
    **knobs
        Overrides of :class:`~ingest.synth.config.SynthConfig` fields.

    Returns
    -------
    SynthResult
        Paths and counts.

    Examples
    --------
    >>> result = generate("/tmp/synth-small", n_accounts=1_000, seed=1, progress=False,
    ...                   overwrite=True)
    >>> result.n_accounts
    1000
    """
    config = SynthConfig.from_knobs(**knobs)
    check_arguments(n_accounts, days, fmt)
    target = Path(out_dir)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{target} already exists and is not empty; choose another directory or "
            "pass overwrite=True (--force on the command line) to replace it"
        )
    began = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        counts, files = _write_all(tmp, n_accounts, seed, days, fmt, progress, config)
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = time.perf_counter() - began
    return SynthResult(
        out_dir=target,
        event_files=[target / "events" / f.name for f in files],
        labels_path=target / "labels.csv",
        rings_path=target / "rings.parquet",
        truth_path=target / "truth_accounts.parquet",
        n_accounts=n_accounts,
        seconds=seconds,
        **counts,
    )


def check_arguments(n_accounts: int, days: int, fmt: str, *,
                    min_accounts: int = MIN_ACCOUNTS) -> None:
    """Check the size, window and format shared by the synthetic generators.

    Parameters
    ----------
    n_accounts
        Accounts (or customers) to generate; at least ``min_accounts``.
    days
        Length of the simulated window in days; at least 2.
    fmt
        Event part format, one of :data:`FORMATS`.
    min_accounts
        The smallest population the caller's generator supports.

    Raises
    ------
    ValueError
        Naming the argument, its bound and the value given.
    """
    if n_accounts < min_accounts:
        raise ValueError(f"n_accounts must be at least {min_accounts}, got {n_accounts}")
    if days < 2:
        raise ValueError(f"days must be at least 2, got {days}")
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")


def _write_all(root: Path, n_accounts: int, seed: int, days: int, fmt: str, progress: bool,
               config: SynthConfig) -> tuple[dict[str, int], list[Path]]:
    start = int(datetime.fromisoformat(config.start).replace(tzinfo=UTC).timestamp())
    end = start + days * DAY
    pools = Pools.for_population(n_accounts, config)
    ids = IdFormatter(seed, n_accounts, config.ipv6_fraction)
    ring_width = decimal_width(n_accounts // (2 if config.pair_fraction > 0
                                              else config.ring_size_min))
    labels = TableAppender(root / "labels.csv", LABEL_SCHEMA)
    truth = TableAppender(root / "truth_accounts.parquet", TRUTH_SCHEMA)
    ring_file = TableAppender(root / "rings.parquet", RING_SCHEMA)
    honest_file = TableAppender(root / "honest_flows.parquet", HONEST_SCHEMA)
    n_honest = 0
    counts = {"n_events": 0, "n_abusive": 0, "n_rings": 0, "n_labels": 0}
    chunk_starts = range(0, n_accounts, config.chunk_accounts)
    with PartWriter(root / "events", fmt) as parts, progress_display(progress) as show:
        task = show.add("synth chunks", total=len(chunk_starts))
        for index, first in enumerate(chunk_starts):
            n = min(config.chunk_accounts, n_accounts - first)
            rng = np.random.default_rng([seed, index])
            pop = build_population(rng, first, n, pools, config, start, end)
            rings = plan_rings(rng, pop, config, counts["n_rings"], start, end)
            honest = _plan_honest(rng, pop, rings, config)
            batch = _chunk_events(rng, pop, rings, pools, config, start, end,
                                  counts["n_events"], honest)
            parts.write(index, events_table(batch, counts["n_events"], first, n, ids))

            observed = draw_labels(rng, pop, rings, config, start, end)
            ring_ids = decimal_ids("ring_", rings.ring_number, ring_width)
            labels.append(_labels_table(pop.account, observed, ids))
            truth.append(_truth_table(pop.account, rings, ring_ids, ids))
            ring_file.append(_rings_table(pop.account, rings, ring_ids, batch, observed, ids))
            honest_file.append(_honest_table(pop.account, honest, n_honest, n_accounts, ids))
            n_honest += len(honest)
            counts["n_events"] += len(batch)
            counts["n_abusive"] += len(rings.member_local)
            counts["n_rings"] += len(rings)
            counts["n_labels"] += len(observed)
            show.advance(task)
            show.update(task, info=f"{counts['n_events']:,} events")
    for appender in (labels, truth, ring_file, honest_file):
        appender.close()
    (root / "synth.json").write_text(json.dumps({
        "seed": seed, "n_accounts": n_accounts, "days": days, "format": fmt,
        **counts, "n_honest_flows": n_honest, "config": config.to_dict(),
    }, indent=2))
    return counts, parts.paths


def _chunk_events(rng: np.random.Generator, pop: Population, rings: Rings, pools: Pools,
                  config: SynthConfig, start: int, end: int,
                  first_event: int, honest: HonestFlows) -> EventBatch:
    """All events of one chunk in time order."""
    in_ring = np.zeros(pop.size, dtype=bool)
    in_ring[rings.member_local] = True
    scale = np.where(in_ring, config.camouflage_activity, 1.0)
    # Fresh members of farms and card-testing rings sign up as part of the ring's script.
    signup_by_ring = np.zeros(pop.size, dtype=bool)
    signup_by_ring[rings.member_local[np.isin(rings.kind[rings.member_ring], FRESH_KINDS)]] = True
    benign = benign_events(rng, pop, pools, config, start, end, scale,
                           emit_signup=~signup_by_ring, first_event=first_event)
    dress_fresh_members(rng, benign, pop, rings)
    planted = ring_events(rng, pop, rings, config, end)
    parts = [benign, planted]
    if len(honest):
        parts.append(honest_flow_events(rng, pop, honest, start, end))
    batch = EventBatch.concat(parts)
    return batch.take(np.argsort(batch.ts, kind="quicksort"))


def _plan_honest(rng: np.random.Generator, pop: Population, rings: Rings,
                 config: SynthConfig) -> HonestFlows:
    """Honest flow groups of a chunk (none, and no random draws, at the default 0 share)."""
    in_ring = np.zeros(pop.size, dtype=bool)
    in_ring[rings.member_local] = True
    if config.honest_flow_fraction == 0:
        empty = np.zeros(0, dtype=np.int64)
        return HonestFlows(kind=empty, size=empty, offset=empty, member_local=empty)
    return plan_honest_flows(rng, pop, in_ring, config)


def _honest_table(account: np.ndarray, honest: HonestFlows, first: int, n_accounts: int,
                  ids: IdFormatter) -> pa.Table:
    offsets = np.concatenate([honest.offset, [len(honest.member_local)]]).astype(np.int32)
    return pa.Table.from_arrays([
        decimal_ids("honest_", first + np.arange(len(honest)), decimal_width(n_accounts)),
        pa.array(np.array(HONEST_KIND_NAMES, dtype=object)[honest.kind], type=pa.string()),
        pa.array(honest.size, type=pa.int32()),
        pa.ListArray.from_arrays(offsets, ids.accounts(account[honest.member_local])),
    ], schema=HONEST_SCHEMA)


def _labels_table(account: np.ndarray, observed: Labels, ids: IdFormatter) -> pa.Table:
    return pa.Table.from_arrays([
        ids.accounts(account[observed.local]),
        pa.array(observed.label, type=pa.int8()),
        seconds_to_ts(observed.ts),
    ], schema=LABEL_SCHEMA)


def _truth_table(account: np.ndarray, rings: Rings, ring_ids: pa.Array,
                 ids: IdFormatter) -> pa.Table:
    ring_of = np.full(len(account), -1, dtype=np.int64)
    ring_of[rings.member_local] = rings.member_ring
    ring_id = (ring_ids.take(pa.array(np.maximum(ring_of, 0), mask=ring_of < 0))
               if len(rings) else pa.nulls(len(account), pa.string()))
    return pa.Table.from_arrays(
        [ids.accounts(account), pa.array(ring_of >= 0), ring_id], schema=TRUTH_SCHEMA)


def _rings_table(account: np.ndarray, rings: Rings, ring_ids: pa.Array, events: EventBatch,
                 observed: Labels, ids: IdFormatter) -> pa.Table:
    """One row per ring; ``entities`` are the ring-level entities that ``events`` used."""
    keys = np.concatenate([events.device, events.ip, events.card])
    keys = np.unique(keys[np.isin(keys >> _SALT_SHIFT, list(_RING_ENTITY_TYPES))])
    owner = ((keys & _INDEX_MASK) // np.uint64(RING_SLOTS)).astype(np.int64)
    if len(rings):
        owner -= int(rings.ring_number[0])
    order = np.argsort(owner, kind="stable")
    keys, owner = keys[order], owner[order]
    salt = keys >> _SALT_SHIFT
    formats = {DEV_RING: ids.devices, CARD_RING: ids.cards, IP_RING: ids.addresses}
    pieces, positions = [], []
    for code, type_name in _RING_ENTITY_TYPES.items():
        rows = np.flatnonzero(salt == code)
        pieces.append(pc.binary_join_element_wise(f"{type_name}:", formats[code](keys[rows]), ""))
        positions.append(rows)
    # Back to ring order: the piece rows were taken type by type.
    order = np.argsort(np.concatenate(positions), kind="stable")
    entity_text = pa.concat_arrays(pieces).take(pa.array(order))
    entity_offsets = np.searchsorted(owner, np.arange(len(rings) + 1)).astype(np.int32)
    member_offsets = np.concatenate([rings.offset, [len(rings.member_local)]]).astype(np.int32)
    return pa.Table.from_arrays([
        ring_ids,
        pa.array(np.array(KIND_NAMES, dtype=object)[rings.kind], type=pa.string()),
        pa.array(rings.size, type=pa.int32()),
        pa.ListArray.from_arrays(member_offsets, ids.accounts(account[rings.member_local])),
        pa.ListArray.from_arrays(entity_offsets, entity_text),
        pa.array(observed.ring_labelled),
        seconds_to_ts(rings.first_ts),
        seconds_to_ts(rings.last_ts),
    ], schema=RING_SCHEMA)
