import pytest

from abusenet.registry.errors import NoProductionModelError, UnknownVersionError
from abusenet.registry.promotion import production_version, promote, rollback
from abusenet.registry.versions import aliases_of


def _aliases(store):
    return aliases_of(store.client(), store)


def test_promote_then_promote_another_keeps_the_previous_champion(registered):
    store = registered
    assert production_version(store) is None
    first = promote(store, 1)
    assert (first.production, first.previous, first.changed) == (1, None, True)
    assert _aliases(store) == {"production": 1}
    second = promote(store, "2")
    assert (second.production, second.previous) == (2, 1)
    assert _aliases(store) == {"production": 2, "previous": 1}
    assert production_version(store) == 2


def test_promoting_the_champion_again_changes_nothing(registered):
    promote(registered, 1)
    promote(registered, 2)
    again = promote(registered, 2)
    assert (again.production, again.previous, again.changed) == (2, 1, False)
    assert _aliases(registered) == {"production": 2, "previous": 1}


def test_rollback_restores_the_previous_champion_step_by_step(registered):
    store = registered
    promote(store, 1)
    promote(store, 2)
    promote(store, 1)
    promote(store, 2)  # history is 1, 2 (a version appears once, at its latest promotion)
    back = rollback(store)
    assert (back.production, back.previous) == (1, 2)
    assert _aliases(store) == {"production": 1}
    assert "rolled_back_at" in store.client().get_model_version(store.model_name, "2").tags
    with pytest.raises(NoProductionModelError, match="version 1 .* is the first production"):
        rollback(store)


def test_rollback_without_a_production_model_is_a_clear_error(registered):
    with pytest.raises(NoProductionModelError, match="has no production version to roll back"):
        rollback(registered)


def test_promoting_an_unknown_version_names_the_known_ones(registered):
    with pytest.raises(UnknownVersionError, match=r"has no version '7'.*holds versions 1-2"):
        promote(registered, 7)
    assert production_version(registered) is None
