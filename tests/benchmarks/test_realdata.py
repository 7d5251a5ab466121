"""The real-data benchmark's command line (its datasets are too big for a unit test)."""

import pytest

from benchmarks import realdata


def test_gnn_seeds_below_one_is_refused_before_any_work(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        realdata.main(["--datasets", "cards-no-collusion", "--gnn-seeds", "0"])
    assert stopped.value.code == 2
    assert "--gnn-seeds must be at least 1, not 0" in capsys.readouterr().err


@pytest.mark.parametrize(("item", "says"), [
    ("whole_groups", "--ring-set needs KEY=VALUE, got 'whole_groups'"),
    ("no_such_setting=1", "no_such_setting"),
    ("max_size=2", "--ring-set: "),
])
def test_ring_settings_are_checked_before_any_work(item: str, says: str,
                                                   capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        realdata.main(["--datasets", "cards-no-collusion", "--ring-set", item])
    assert stopped.value.code == 2
    assert says in capsys.readouterr().err


def test_ring_settings_are_read_as_yaml() -> None:
    import argparse

    settings = realdata._ring_settings(argparse.ArgumentParser(),
                                       ["whole_groups=true", "max_group_size=500"])
    assert settings == {"whole_groups": True, "max_group_size": 500}
