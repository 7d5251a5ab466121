"""The real-data benchmark's command line (its datasets are too big for a unit test)."""

import pytest

from benchmarks import realdata


def test_gnn_seeds_below_one_is_refused_before_any_work(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        realdata.main(["--datasets", "cards-no-collusion", "--gnn-seeds", "0"])
    assert stopped.value.code == 2
    assert "--gnn-seeds must be at least 1, not 0" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "item", "says"), [
    ("--ring-set", "whole_groups", "--ring-set needs KEY=VALUE, got 'whole_groups'"),
    ("--ring-set", "no_such_setting=1", "no_such_setting"),
    ("--ring-set", "max_size=2", "--ring-set: "),
    ("--detector-set", "ensemble", "--detector-set needs KEY=VALUE, got 'ensemble'"),
    ("--detector-set", "no_such_setting=1", "no_such_setting"),
    ("--detector-set", "ensemble=many", "--detector-set: "),
    ("--detector-set", "random_state=5",
     "--detector-set: random_state set by the benchmark itself"),
    ("--detector-set", "num_threads=2",
     "--detector-set: num_threads set by the benchmark itself"),
])
def test_settings_are_checked_before_any_work(flag: str, item: str, says: str,
                                              capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        realdata.main(["--datasets", "cards-no-collusion", flag, item])
    assert stopped.value.code == 2
    assert says in capsys.readouterr().err


def test_ring_settings_are_read_as_yaml() -> None:
    import argparse

    settings = realdata._ring_settings(argparse.ArgumentParser(),
                                       ["whole_groups=true", "max_group_size=500"])
    assert settings == {"whole_groups": True, "max_group_size": 500}


def test_detector_settings_are_read_as_yaml_and_reach_the_gnn(monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    import argparse

    import gnn.detector

    settings = realdata._detector_settings(argparse.ArgumentParser(),
                                           ["ensemble=auto", "ensemble_validation=folds",
                                            "max_epochs=5"])
    assert settings == {"ensemble": "auto", "ensemble_validation": "folds", "max_epochs": 5}
    built = {}

    class Stop(Exception):
        pass

    def fake(**kwargs: object) -> None:
        built.update(kwargs)
        raise Stop

    monkeypatch.setattr(gnn.detector, "AccountDetector", fake)
    with pytest.raises(Stop):
        realdata._model_scores("gnn", None, None, quick=True, seed=2, detector=settings)
    assert built["ensemble"] == "auto" and built["ensemble_validation"] == "folds"
    assert built["max_epochs"] == 5 and built["hidden_channels"] == 32  # over --quick's
    assert built["random_state"] == 2
