import pytest

from gnn.baselines import ComponentRate, LabelPropagation, XGBGraph
from gnn.detector import AccountDetector
from gnn.estimator import Estimator

ESTIMATORS = [
    AccountDetector(max_epochs=7, aggregators=("mean",), num_neighbors=[5, 5]),
    XGBGraph(hops=1, n_estimators=30),
    LabelPropagation(alpha=0.5),
    ComponentRate(prior_weight=2.0),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_get_params_round_trips_through_the_constructor(estimator):
    params = estimator.get_params()
    assert list(params) == type(estimator).param_names()
    clone = type(estimator)(**params)
    assert clone is not estimator
    assert clone.get_params() == params
    assert repr(clone) == repr(estimator)


def test_get_params_reads_the_signature_and_gives_tuples_as_lists():
    params = AccountDetector(max_epochs=7).get_params()
    assert params["max_epochs"] == 7
    assert params["aggregators"] == ["mean", "std"]
    assert params["num_neighbors"] == [15, 10]
    assert "verbose" in params and "self" not in params


def test_set_params_changes_known_parameters_and_returns_self():
    detector = AccountDetector()
    assert detector.set_params(lr=0.01, max_epochs=3) is detector
    assert (detector.lr, detector.max_epochs) == (0.01, 3)


def test_set_params_refuses_unknown_names_and_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['epochs'\].*max_epochs"):
        AccountDetector().set_params(epochs=3)
    with pytest.raises(ValueError, match="known parameters are"):
        LabelPropagation().set_params(hops=2)


def test_repr_shows_only_the_parameters_that_differ_from_the_defaults():
    assert repr(AccountDetector()) == "AccountDetector()"
    changed = AccountDetector(max_epochs=20, lr=0.01)
    assert repr(changed) == "AccountDetector(lr=0.01, max_epochs=20)"
    assert repr(AccountDetector(aggregators=["mean", "std"])) == "AccountDetector()"
    assert repr(LabelPropagation(alpha=0.5)) == "LabelPropagation(alpha=0.5)"


def test_constructors_with_var_keyword_arguments_are_refused():
    class Loose(Estimator):
        def __init__(self, **options):
            self.options = options

    with pytest.raises(TypeError, match="names every parameter"):
        Loose().get_params()
