"""Account-account projection of a snapshot through shared entities and money flows.

Two accounts are linked when they use the same entity (Device, IP, PaymentMethod or any entity type
a mapping adds) or move money between them (``TRANSACTED_WITH``). An entity shared by ``d``
accounts adds ``1 / log(d)`` to each of its pairs (Adamic-Adar), so a device shared by a handful
of accounts links them strongly while a carrier NAT address shared by thousands barely counts.
Entities above ``hub_degree_cap`` never expand into their ``d^2`` pairs: they contribute a random
chain of ``d - 1`` pairs (each user linked to the next one in a seeded random order) at their
Adamic-Adar weight, and are listed in :attr:`Projection.cut_entities` as evidence of the cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from graph.snapshot import ACCOUNT, Snapshot

#: Relation whose edges are money flows between two accounts.
FLOW_RELATION = "TRANSACTED_WITH"


@dataclass
class Incidence:
    """The account x entity bipartite graph of a snapshot.

    Attributes
    ----------
    accounts
        Account ids in row order.
    entities
        Entity labels ``"Type:id"`` in column order.
    matrix
        ``len(accounts) x len(entities)`` CSR matrix, 1.0 where an account used an entity.
    edges
        One row per (account, entity) use: ``row``, ``col``, ``first_ts``, ``last_ts`` (epoch
        seconds as int64; ``-1`` when unknown).
    """

    accounts: pd.Index
    entities: pd.Index
    matrix: sp.csr_matrix
    edges: pd.DataFrame

    @property
    def entity_degree(self) -> np.ndarray:
        """Number of accounts that used each entity."""
        return np.asarray(self.matrix.getnnz(axis=0))


@dataclass
class Projection:
    """A weighted, symmetric account-account graph.

    Attributes
    ----------
    accounts
        Account ids in row and column order.
    matrix
        Symmetric CSR matrix of link weights, zero diagonal.
    cut_entities
        Hub entities that were not expanded into all their pairs: ``entity``, ``degree``,
        ``weight``, ``sampled_pairs``.
    """

    accounts: pd.Index
    matrix: sp.csr_matrix
    cut_entities: pd.DataFrame


def account_index(snapshot: Snapshot) -> pd.Index:
    """All account ids of ``snapshot``: the ``Account`` nodes plus every account on an edge."""
    parts = []
    if ACCOUNT in snapshot.nodes:
        parts.append(snapshot.nodes[ACCOUNT]["id"].astype(str))
    for name, spec in snapshot.relations.items():
        edges = snapshot.edges.get(name)
        if edges is None:
            continue
        if spec.src_type == ACCOUNT:
            parts.append(edges["src"].astype(str))
        if spec.dst_type == ACCOUNT:
            parts.append(edges["dst"].astype(str))
    if not parts:
        return pd.Index([], dtype=object)
    # plain object strings: per-ring lookups on Arrow-backed strings cost far more
    return pd.Index(np.asarray(pd.unique(pd.concat(parts, ignore_index=True)), dtype=object))


def epoch_seconds(values: pd.Series) -> np.ndarray:
    """Timestamps (any unit, naive = UTC) as int64 epoch seconds, ``-1`` for missing ones."""
    stamps = pd.to_datetime(pd.Series(values), utc=True)
    seconds = np.full(len(stamps), -1, dtype=np.int64)
    known = stamps.notna().to_numpy()
    if known.any():
        micros = stamps[known].dt.as_unit("us").astype("int64").to_numpy()
        seconds[known] = micros // 1_000_000
    return seconds


def account_rows(accounts: pd.Index, ids: pd.Series) -> np.ndarray:
    """Row of each id in ``accounts`` (``-1`` when absent), as int64.

    An Arrow hash lookup: several times faster than ``Index.get_indexer`` on Python strings.
    """
    found = pc.index_in(pa.array(ids.astype(str)), value_set=pa.array(accounts.astype(str)))
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def account_entity_incidence(
    snapshot: Snapshot,
    accounts: pd.Index | None = None,
    include_counterparties: bool = False,
    include_entities: bool = True,
) -> Incidence:
    """Build the account x entity incidence of ``snapshot``.

    Parameters
    ----------
    snapshot
        The graph snapshot.
    accounts
        Row order; by default :func:`account_index`.
    include_counterparties
        Also treat each account's transfer counterparties as entities labelled ``"Account:id"``
        (both directions), as dense-subgraph peeling wants.
    include_entities
        Include the non-account entities (False with ``include_counterparties`` gives the
        counterparty columns alone, to :func:`stack_incidences` onto an incidence at hand).

    Returns
    -------
    Incidence
    """
    accounts = account_index(snapshot) if accounts is None else accounts
    # per entity type: the (rows, entity ids, first, last) chunks of every relation reaching it
    by_type: dict[str, list[tuple[np.ndarray, pd.Series, np.ndarray, np.ndarray]]] = {}
    for name, spec in snapshot.relations.items():
        edges = snapshot.edges.get(name)
        if edges is None or spec.src_type != ACCOUNT or len(edges) == 0:
            continue
        pairs = [("src", "dst")]
        if spec.dst_type == ACCOUNT:
            if not include_counterparties:
                continue
            pairs.append(("dst", "src"))
        elif not include_entities:
            continue
        first, last = epoch_seconds(edges["first_ts"]), epoch_seconds(edges["last_ts"])
        for acct_col, ent_col in pairs:
            by_type.setdefault(spec.dst_type, []).append(
                (account_rows(accounts, edges[acct_col]), edges[ent_col], first, last)
            )
    if not by_type:
        empty = pd.DataFrame({c: np.array([], dtype=np.int64) for c in _EDGE_COLS})
        matrix = sp.csr_matrix((len(accounts), 0))
        return Incidence(accounts, pd.Index([], dtype=object), matrix, empty)
    rows, cols, firsts, lasts, labels = [], [], [], [], []
    offset = 0
    for entity_type, chunks in by_type.items():
        ids = pd.concat([ids for _, ids, _, _ in chunks], ignore_index=True)
        codes, uniques = pd.factorize(ids.astype(str))
        labels.append(entity_type + ":" + np.asarray(uniques, dtype=object))
        rows += [r for r, _, _, _ in chunks]
        cols.append(codes.astype(np.int64) + offset)
        firsts += [f for _, _, f, _ in chunks]
        lasts += [t for _, _, _, t in chunks]
        offset += len(uniques)
    table = _aggregate_uses(np.concatenate(rows), np.concatenate(cols), np.concatenate(firsts),
                            np.concatenate(lasts), offset)
    entities = pd.Index(np.concatenate(labels), dtype=object)
    matrix = sp.csr_matrix(
        (np.ones(len(table)), (table["row"].to_numpy(), table["col"].to_numpy())),
        shape=(len(accounts), len(entities)),
    )
    return Incidence(accounts, entities, matrix, table)


def stack_incidences(left: Incidence, right: Incidence) -> Incidence:
    """The columns of ``right`` after those of ``left`` (same accounts, disjoint entities)."""
    edges = right.edges.assign(col=right.edges["col"] + len(left.entities))
    return Incidence(
        left.accounts,
        left.entities.append(right.entities),
        sp.hstack([left.matrix, right.matrix], format="csr"),
        pd.concat([left.edges, edges], ignore_index=True),
    )


def _aggregate_uses(
    rows: np.ndarray, cols: np.ndarray, first: np.ndarray, last: np.ndarray, n_cols: int
) -> pd.DataFrame:
    """One row per (row, col) use, sorted, with the earliest known first and latest last time."""
    keep = rows >= 0
    key = rows[keep] * n_cols + cols[keep]
    first, last = first[keep], last[keep]
    order = np.argsort(key, kind="stable")
    key, first, last = key[order], first[order], last[order]
    if len(key) == 0:
        return pd.DataFrame({c: np.array([], dtype=np.int64) for c in _EDGE_COLS})
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    unknown = np.iinfo(np.int64).max
    first_known = np.minimum.reduceat(np.where(first >= 0, first, unknown), starts)
    unique_key = key[starts]
    return pd.DataFrame(
        {
            "row": unique_key // n_cols,
            "col": unique_key % n_cols,
            "first_ts": np.where(first_known == unknown, -1, first_known),
            "last_ts": np.maximum.reduceat(last, starts),
        }
    )


_EDGE_COLS = ("row", "col", "first_ts", "last_ts")


def adamic_adar_weight(degree: np.ndarray) -> np.ndarray:
    """Weight ``1 / log(d)`` an entity of degree ``d`` adds to each pair it links (d >= 2)."""
    return 1.0 / np.log(np.maximum(np.asarray(degree, dtype=np.float64), 2.0))


def co_membership(
    matrix: sp.csr_matrix,
    labels: pd.Index,
    hub_degree_cap: int,
    seed: int = 0,
    weight: np.ndarray | None = None,
) -> tuple[sp.csr_matrix, pd.DataFrame]:
    """Project a row x column incidence onto rows, down-weighting and sampling hub columns.

    Parameters
    ----------
    matrix
        Binary CSR incidence (rows = accounts, columns = entities or entity-windows).
    labels
        Column labels, used to name the cut hubs.
    hub_degree_cap
        Columns with more rows than this are hubs: they contribute a seeded random chain of
        ``d - 1`` pairs instead of all ``d (d - 1) / 2``.
    seed
        Seed of the chain order.
    weight
        Weight each column adds to each of its pairs; by default ``1 / log(d)`` of its degree.

    Returns
    -------
    tuple of (csr_matrix, DataFrame)
        The symmetric row x row weight matrix (zero diagonal) and the cut hubs (``entity``,
        ``degree``, ``weight``, ``sampled_pairs``).
    """
    n = matrix.shape[0]
    degree = np.asarray(matrix.getnnz(axis=0))
    weight = adamic_adar_weight(degree) if weight is None else np.asarray(weight, np.float64)
    shared = (degree >= 2) & (degree <= hub_degree_cap)
    sub = matrix[:, np.flatnonzero(shared)]
    projected = (sub @ sp.diags(weight[shared]) @ sub.T).tocsr()
    del sub
    hubs = np.flatnonzero(degree > hub_degree_cap)
    chain = _hub_chains(matrix[:, hubs].T.tocsr(), weight[hubs], n, seed)
    # one sum with the (small) symmetric chain: one copy of the projection at a time, not two
    projected = (projected + (chain + chain.T)).tocsr()
    _drop_diagonal(projected)
    cut = pd.DataFrame(
        {
            "entity": np.asarray(labels[hubs]) if len(labels) else np.array([], dtype=object),
            "degree": degree[hubs].astype(np.int64),
            "weight": weight[hubs],
            "sampled_pairs": np.maximum(degree[hubs] - 1, 0).astype(np.int64),
        }
    )
    return projected, cut


def _drop_diagonal(matrix: sp.csr_matrix) -> None:
    """Remove ``matrix``'s diagonal entries (and stored zeros) in place, without the copy
    ``setdiag`` makes when some diagonal entries are missing."""
    row = np.repeat(np.arange(matrix.shape[0], dtype=matrix.indices.dtype),
                    np.diff(matrix.indptr))
    matrix.data[matrix.indices == row] = 0
    matrix.eliminate_zeros()


def _hub_chains(hub_rows: sp.csr_matrix, weight: np.ndarray, n: int, seed: int) -> sp.csr_matrix:
    """Link the users of each hub (one CSR row per hub) in a seeded random chain."""
    if hub_rows.nnz == 0:
        return sp.csr_matrix((n, n))
    rng = np.random.default_rng(seed)
    hub_of = np.repeat(np.arange(hub_rows.shape[0]), np.diff(hub_rows.indptr))
    order = np.lexsort((rng.random(hub_rows.nnz), hub_of))
    members, hubs = hub_rows.indices[order], hub_of[order]
    same = hubs[1:] == hubs[:-1]
    return sp.csr_matrix(
        (weight[hubs[1:][same]], (members[:-1][same], members[1:][same])), shape=(n, n)
    )


def flow_matrix(snapshot: Snapshot, accounts: pd.Index) -> sp.csr_matrix:
    """Directed account x account matrix of transfer counts (``TRANSACTED_WITH``), self-loops
    dropped; an empty matrix when the snapshot has no flows."""
    n = len(accounts)
    edges = snapshot.edges.get(FLOW_RELATION)
    if edges is None or len(edges) == 0:
        return sp.csr_matrix((n, n))
    src, dst = account_rows(accounts, edges["src"]), account_rows(accounts, edges["dst"])
    keep = (src >= 0) & (dst >= 0) & (src != dst)
    count = edges["count"].to_numpy(np.float64) if "count" in edges else np.ones(len(edges))
    return sp.csr_matrix((count[keep], (src[keep], dst[keep])), shape=(n, n))


def flow_projection(flows: sp.csr_matrix, flow_weight: float = 1.0) -> sp.csr_matrix:
    """Symmetric weights of money flows: ``flow_weight / log(2 + max(d_u, d_v))`` per linked
    pair, ``d`` being the number of distinct counterparties, so flows through a hub account
    (a merchant, a payroll account) weigh little."""
    linked = ((flows + flows.T) > 0).astype(np.float64).tocoo()
    degree = np.asarray(linked.getnnz(axis=1))
    hub = np.maximum(degree[linked.row], degree[linked.col])
    data = flow_weight / np.log(2.0 + hub)
    return sp.csr_matrix((data, (linked.row, linked.col)), shape=flows.shape)


def account_projection(
    snapshot: Snapshot,
    hub_degree_cap: int = 200,
    flow_weight: float = 1.0,
    seed: int = 0,
    incidence: Incidence | None = None,
) -> Projection:
    """Project ``snapshot`` onto accounts through shared entities and money flows.

    Parameters
    ----------
    snapshot
        The graph snapshot.
    hub_degree_cap
        Entities used by more accounts are sampled, not expanded (see module docstring).
    flow_weight
        Multiplier of money-flow links; 0 leaves flows out.
    seed
        Seed of the hub sampling.
    incidence
        A precomputed :func:`account_entity_incidence` (without counterparties) to reuse.

    Returns
    -------
    Projection

    Examples
    --------
    >>> proj = account_projection(snapshot)                     # doctest: +SKIP
    >>> proj.matrix[proj.accounts.get_loc("a1")].toarray()      # doctest: +SKIP
    """
    incidence = incidence or account_entity_incidence(snapshot)
    matrix, cut = co_membership(incidence.matrix, incidence.entities, hub_degree_cap, seed)
    if flow_weight > 0:
        matrix = (matrix + flow_projection(flow_matrix(snapshot, incidence.accounts),
                                           flow_weight)).tocsr()
    return Projection(incidence.accounts, matrix, cut)
