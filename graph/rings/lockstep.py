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

from graph.rings.projection import Incidence, adamic_adar_weight, co_membership, epoch_seconds
from graph.snapshot import RELATIONS


def lockstep_touches(incidence: Incidence, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Timed touches ``row, entity, ts`` (``entity`` = ``"Type:id"``, ``ts`` = epoch seconds).

    From ``events`` (canonical event schema: ``account_id``, ``ts`` and the entity columns of
    :data:`graph.snapshot.RELATIONS`) when given, else from the first and last use of each
    incidence edge. Touches of unknown accounts or times are dropped.
    """
    if events is None:
        edges = incidence.edges
        touches = pd.DataFrame(
            {
                "row": np.concatenate([edges["row"], edges["row"]]),
                "entity": np.concatenate([edges["col"], edges["col"]]),
                "ts": np.concatenate([edges["first_ts"], edges["last_ts"]]),
            }
        ).drop_duplicates()
        touches["entity"] = incidence.entities[touches["entity"].to_numpy()]
        return touches[touches["ts"] >= 0].reset_index(drop=True)
    rows = incidence.accounts.get_indexer(events["account_id"].astype(str))
    ts = epoch_seconds(events["ts"])
    frames = []
    for _, dst_type, column in RELATIONS.values():
        if column not in events:
            continue
        present = events[column].notna().to_numpy() & (rows >= 0) & (ts >= 0)
        frames.append(
            pd.DataFrame(
                {
                    "row": rows[present],
                    "entity": dst_type + ":" + events.loc[present, column].astype(str).to_numpy(),
                    "ts": ts[present],
                }
            )
        )
    if not frames:
        return pd.DataFrame({"row": [], "entity": [], "ts": []})
    return pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)


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
    ``hub_degree_cap`` accounts sampled as hubs.
    """
    result = sp.csr_matrix((n_accounts, n_accounts))
    users = touches.drop_duplicates(["row", "entity"])["entity"].value_counts()
    entity_weight = adamic_adar_weight(users.reindex(touches["entity"]).to_numpy())
    for grid, offset in enumerate((0.0, window_s / 2)):
        bucket = np.floor((touches["ts"].to_numpy(np.float64) + offset) / window_s).astype(np.int64)
        codes, uniques = pd.factorize(pd.MultiIndex.from_arrays([touches["entity"], bucket]))
        incidence = sp.csr_matrix(
            (np.ones(len(codes)), (touches["row"].to_numpy(np.int64), codes)),
            shape=(n_accounts, len(uniques)),
        )
        incidence.data[:] = 1.0
        key_weight = np.zeros(len(uniques))
        key_weight[codes] = entity_weight
        weights, _ = co_membership(incidence, uniques, hub_degree_cap, seed + grid, key_weight)
        result = result.maximum(weights).tocsr()
    return result
