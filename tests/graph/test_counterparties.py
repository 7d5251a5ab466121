"""What a snapshot's counterparties look like: accounts, or hubs mapped as accounts."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from graph.counterparties import counterparty_shape


def _accounts(tmp_path: Path, acted: list[int], senders: list[int]) -> Path:
    (tmp_path / "nodes").mkdir()
    pq.write_table(pa.table({"id": [f"a{i}" for i in range(len(acted))],
                             "n_events": pa.array(acted, pa.int64()),
                             "deg_transacted_with_in": pa.array(senders, pa.int64())}),
                   tmp_path / "nodes" / "Account.parquet")
    return tmp_path


def test_sellers_mapped_as_counterparties_get_a_hint(tmp_path):
    # 100 reviewers who act, 4 sellers who never act and are each reviewed by 25 of them
    snap = _accounts(tmp_path, [1] * 100 + [0] * 4, [0] * 100 + [25] * 4)
    shape = counterparty_shape(snap)
    assert (shape.receivers, shape.passive, shape.passive_mean_senders) == (4, 4, 25.0)
    assert shape.looks_like_entities
    assert "map the column as an entity" in shape.hint()
    assert "4 of the 4 counterparties" in shape.hint()


def test_transfers_between_accounts_get_none(tmp_path):
    # payees act themselves: accounts, not hubs
    snap = _accounts(tmp_path, [3] * 50, [2] * 50)
    assert counterparty_shape(snap).hint() is None


def test_passive_payees_with_few_senders_get_none(tmp_path):
    # external beneficiaries that never act but each get money from one or two accounts
    snap = _accounts(tmp_path, [2] * 40 + [0] * 40, [0] * 40 + [1, 2] * 20)
    shape = counterparty_shape(snap)
    assert shape.passive == 40 and not shape.looks_like_entities


def test_no_counterparties_no_shape(tmp_path):
    assert counterparty_shape(_accounts(tmp_path, [1, 2], [0, 0])) is None
    assert counterparty_shape(tmp_path / "missing") is None
