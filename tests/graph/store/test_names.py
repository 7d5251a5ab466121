import pytest

from graph.store.names import UnsafeNameError, node_label, rel_type


@pytest.mark.parametrize("name", ["Account", "Device", "IP", "PaymentMethod", "Ring", "Email"])
def test_builtin_and_plain_labels_pass(name: str) -> None:
    assert node_label(name) == name


@pytest.mark.parametrize("name", ["USED_DEVICE", "MEMBER_OF", "SENT_EMAIL"])
def test_builtin_and_plain_rel_types_pass(name: str) -> None:
    assert rel_type(name) == name


@pytest.mark.parametrize("name", [
    "", "1Account", "Acc ount", "A`) DETACH DELETE n //", "Ac-count", "Ωmega", "A" * 65, None,
])
def test_anything_else_is_refused(name: str) -> None:
    with pytest.raises(UnsafeNameError, match="letters, digits"):
        node_label(name)
    with pytest.raises(UnsafeNameError):
        rel_type(name)
