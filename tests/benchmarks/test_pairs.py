"""The pairs benchmark's command line (its world takes a minute: run it by hand)."""

import pytest

from benchmarks import pairs


@pytest.mark.parametrize(("argv", "says"), [
    (["--pair-fdr", "1.5"], "--pair-fdr must be in (0, 1), not 1.5"),
    (["--scores", "boosted"], "invalid choice: 'boosted'"),
])
def test_settings_are_checked_before_any_work(argv: list[str], says: str,
                                              capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        pairs.main(argv)
    assert stopped.value.code == 2
    assert says in capsys.readouterr().err
