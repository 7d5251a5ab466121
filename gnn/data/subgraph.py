"""The k-hop neighbourhood of some accounts as a ``HeteroData``, ready for the GNN.

:func:`graph.subgraph.extract_subsnapshot` cuts the neighbourhood out of Neo4j or a snapshot as
graph tables; this module turns them into the model's input, with the id map that leads every row
back to its store id.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import torch
from torch_geometric.data import HeteroData

from gnn.data.features import FeatureScaler
from gnn.data.snapshot_graph import snapshot_to_heterodata
from graph.snapshot import ACCOUNT
from graph.subgraph import Source, extract_subsnapshot


def extract_subgraph(
    source: Source, account_ids: Iterable[str], k: int = 2, *,
    scaler: FeatureScaler | None = None,
) -> tuple[HeteroData, dict[str, pd.Index]]:
    """The k-hop neighbourhood of ``account_ids`` as a ``HeteroData``.

    Parameters
    ----------
    source, account_ids, k
        Where to cut the neighbourhood, around which accounts, how far: as for
        :func:`graph.subgraph.extract_subsnapshot`.
    scaler
        The trained model's feature scaler, to score the subgraph with that model; ``None`` fits
        one on the subgraph.

    Returns
    -------
    tuple[HeteroData, dict[str, pandas.Index]]
        The graph (as :func:`~gnn.data.snapshot_graph.snapshot_to_heterodata` builds it, plus a
        boolean ``seed_mask`` on accounts) and, per node type, the store id of each row:
        ``id_map["Account"][i]`` is row ``i``, ``id_map["Account"].get_indexer(ids)`` the rows
        of ``ids``.
    """
    seeds = sorted({str(a) for a in account_ids})
    sub = extract_subsnapshot(source, seeds, k)
    if scaler is not None:
        # The store keeps no property for a missing value: a feature absent from every node of
        # the neighbourhood is a column of missing values, as in the snapshot.
        for node_type, columns in scaler.columns.items():
            if node_type in sub.nodes:
                sub.nodes[node_type] = sub.nodes[node_type].reindex(
                    columns=list(dict.fromkeys([*sub.nodes[node_type].columns, *columns]))
                )
    data, _ = snapshot_to_heterodata(sub, scaler)
    id_map = {t: pd.Index(data[t].node_ids) for t in data.node_types}
    account_rows = id_map.get(ACCOUNT, pd.Index([]))
    data[ACCOUNT].seed_mask = torch.from_numpy(account_rows.isin(seeds))
    return data, id_map
