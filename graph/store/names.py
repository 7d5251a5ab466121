"""The only way a label, relationship type or property key gets into Cypher text.

Cypher cannot take a label or a relationship type as a parameter, so those (and the keys of
timestamp properties, see :func:`property_key`) are the only names the store ever writes into
query text. Every one passes through :func:`node_label` or
:func:`rel_type`: the built-in names of the graph model are always allowed; a name a mapping adds
(an extra entity type) must be a plain identifier. Anything else is refused, so no value from a
snapshot or a user can change the shape of a query. Values (ids, scores, dates) always travel as
``$parameters``.
"""

from __future__ import annotations

import re

from graph.snapshot import ACCOUNT, DEVICE, IP, PAYMENT_METHOD, RELATIONS

RING = "Ring"
MEMBER_OF = "MEMBER_OF"

#: Labels and relationship types of the graph model (ARCHITECTURE.md).
BUILTIN_LABELS = frozenset({ACCOUNT, DEVICE, IP, PAYMENT_METHOD, RING})
BUILTIN_REL_TYPES = frozenset({*RELATIONS, MEMBER_OF})

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


class UnsafeNameError(ValueError):
    """A label or relationship type that may not be written into Cypher."""


def node_label(name: str) -> str:
    """Return ``name`` as a label safe to write into Cypher, or raise.

    Parameters
    ----------
    name
        A node type of the graph model or an extra entity type from a mapping.

    Raises
    ------
    UnsafeNameError
        If ``name`` is neither built in nor a plain identifier (letters, digits, ``_``).
    """
    return _checked(name, BUILTIN_LABELS, "node label")


def rel_type(name: str) -> str:
    """Return ``name`` as a relationship type safe to write into Cypher, or raise.

    Raises
    ------
    UnsafeNameError
        If ``name`` is neither built in nor a plain identifier (letters, digits, ``_``).
    """
    return _checked(name, BUILTIN_REL_TYPES, "relationship type")


def property_key(name: str) -> str:
    """Return ``name`` as a property key safe to write into Cypher (inside backticks), or raise.

    Only the timestamp columns of a snapshot are named in query text (their values are turned
    into ``DateTime`` on the server); all other properties travel inside a parameter map.

    Raises
    ------
    UnsafeNameError
        If ``name`` is not a plain identifier (letters, digits, ``_``).
    """
    if isinstance(name, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name):
        return name
    raise UnsafeNameError(
        f"{name!r} is not a valid property name for a timestamp column: use letters, digits "
        "and '_' only; rename the column"
    )


def _checked(name: str, builtin: frozenset[str], what: str) -> str:
    if name in builtin:
        return name
    if isinstance(name, str) and _IDENTIFIER.fullmatch(name):
        return name
    raise UnsafeNameError(
        f"{name!r} is not a valid {what}: use letters, digits and '_' only, starting with a "
        "letter (at most 64 characters); rename it in the mapping file"
    )
