"""The real-data benchmark's command line (its datasets are too big for a unit test)."""

import pytest

from benchmarks import realdata


def test_gnn_seeds_below_one_is_refused_before_any_work(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        realdata.main(["--datasets", "cards-no-collusion", "--gnn-seeds", "0"])
    assert stopped.value.code == 2
    assert "--gnn-seeds must be at least 1, not 0" in capsys.readouterr().err
