"""Temporal lockstep: accounts that touch the same entity within the same short time window.

Each (account, entity) touch is put into windows of ``window_s`` seconds on two grids offset by
half a window, so two touches less than half a window apart always share a window. An
(entity, window) pair then acts like an entity of its own: accounts sharing several of them act
in lockstep. Crowded windows (public Wi-Fi at lunchtime) are hubs and are sampled, not expanded,
exactly as in :mod:`graph.rings.projection`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graph.rings.projection import (
    Incidence,
    account_rows,
    adamic_adar_weight,
    co_membership,
    epoch_seconds,
)
from graph.snapshot import RELATIONS


def lockstep_touches(incidence: Incidence, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Timed touches ``row, entity, ts`` (int64 each: account row, entity code, epoch seconds).

    From ``events`` (canonical event schema: ``account_id``, ``ts`` and the entity columns of
    :data:`graph.snapshot.RELATIONS`) when given, else from the first and last use of each
    incidence edge (``entity`` is then the incidence column). Touches of unknown accounts or
    times are dropped; a touch may repeat.
    """
    if events is None:
        edges = incidence.edges
        again = (edges["last_ts"] != edges["first_ts"]).to_numpy()
        table = pd.DataFrame({
            "row": np.concatenate([edges["row"], edges["row"][again]]),
            "entity": np.concatenate([edges["col"], edges["col"][again]]),
            "ts": np.concatenate([edges["first_ts"], edges["last_ts"][again]]),
        }).astype(np.int64)
        return table[table["ts"] >= 0].reset_index(drop=True)
    rows = account_rows(incidence.accounts, events["account_id"])
    ts = epoch_seconds(events["ts"])
    parts = []
    for _, dst_type, column in RELATIONS.values():
        if column not in events:
            continue
        present = events[column].notna().to_numpy() & (rows >= 0) & (ts >= 0)
        labels = dst_type + ":" + np.asarray(events.loc[present, column].astype(str), dtype=object)
        parts.append((rows[present], labels, ts[present]))
    if not parts:
        return pd.DataFrame({c: np.array([], dtype=np.int64) for c in ("row", "entity", "ts")})
    entity, _ = pd.factorize(np.concatenate([p[1] for p in parts]))
    return pd.DataFrame({
        "row": np.concatenate([p[0] for p in parts]),
        "entity": entity,
        "ts": np.concatenate([p[2] for p in parts]),
    }).astype(np.int64)


def lockstep_matrix(
    touches: pd.DataFrame,
    n_accounts: int,
    window_s: float,
    hub_degree_cap: int,
    seed: int = 0,
) -> sp.csr_matrix:
    """Symmetric account x account lockstep weights (zero diagonal).

    A pair's weight is the larger of its two grids' weights; on each grid it is the sum over
    shared (entity, window) keys of ``1 / log(d)``, ``d`` = accounts that ever touched the
    entity (so meeting on a popular entity by chance counts little), with keys of more than
    ``hub_degree_cap`` accounts sampled as hubs. Keys are integers (entity code x window), so
    the work is sorting and sparse products, never string hashing.
    """
    result = sp.csr_matrix((n_accounts, n_accounts))
    if len(touches) == 0:
        return result
    # copies of the columns, so the table goes now (a view of one would keep all three; a
    # caller's temporary table is this function's alone)
    rows = touches["row"].to_numpy(np.int64, copy=True)
    entity, _ = pd.factorize(touches["entity"].to_numpy(np.int64))
    seconds = touches["ts"].to_numpy(np.float64, copy=True)
    del touches
    n_entities = int(entity.max()) + 1
    # accounts that touched each entity: a boolean entity x account matrix's entries per row
    # (its repeats merged by a bucket sort on the entity; sorting every touch's key took 15x
    # as long)
    touched = sp.csr_matrix((np.ones(len(rows), dtype=bool), (entity, rows)),
                            shape=(n_entities, n_accounts))
    users = np.diff(touched.indptr)
    del touched
    entity_weight = adamic_adar_weight(users)
    # Memory: one grid's arrays at a time, each dropped once read (the lockstep search was
    # the largest part of the candidate search at a million accounts).
    for grid, offset in enumerate((0.0, window_s / 2)):
        window = seconds + offset  # the same arithmetic as one expression, in place
        window /= window_s
        np.floor(window, out=window)
        bucket = window.astype(np.int64)
        del window
        bucket -= bucket.min()
        key = entity * (int(bucket.max()) + 1)
        key += bucket
        del bucket
        codes, uniques = pd.factorize(key)
        n_keys = len(uniques)
        del key, uniques
        incidence = sp.csr_matrix(
            (np.ones(len(codes)), (rows, codes)), shape=(n_accounts, n_keys)
        )
        incidence.data[:] = 1.0
        key_weight = np.zeros(n_keys)
        key_weight[codes] = entity_weight[entity]
        del codes
        # the cut hubs are not named here: a key's position stands in for its label
        weights, _ = co_membership(incidence, pd.RangeIndex(n_keys), hub_degree_cap, seed + grid,
                                   key_weight)
        del incidence, key_weight
        result = result.maximum(weights).tocsr()
        del weights
    return result
