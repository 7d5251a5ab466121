"""Which version is in production: promote one, roll back to the one before.

The alias ``production`` names the champion and ``previous`` the champion before it. The
registered model's tag ``champions`` keeps every promotion in order (a JSON list of version
numbers), so :func:`rollback` can walk back more than one step: each rollback drops the
current champion from that history, gives ``production`` to the one before it and
``previous`` to the one before that (the alias goes when the history holds nothing earlier).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from abusenet.registry.errors import NoProductionModelError
from abusenet.registry.store import RegistryStore
from abusenet.registry.versions import aliases_of, resolve

if TYPE_CHECKING:
    from mlflow import MlflowClient

PRODUCTION = "production"
PREVIOUS = "previous"
#: Registered model tag: the versions promoted to production, oldest first (JSON list).
HISTORY_TAG = "champions"


@dataclass(frozen=True)
class AliasChange:
    """What a promotion or rollback did.

    Attributes
    ----------
    production
        The version now in production.
    previous
        The version that held ``production`` before (``None``: there was none); after a
        rollback, the version rolled back from.
    changed
        False when the version was already in production (nothing was done).
    """

    production: int
    previous: int | None
    changed: bool


def production_version(store: RegistryStore) -> int | None:
    """The version holding the ``production`` alias, or ``None`` when none does yet."""
    client = store.client()
    return store.call(lambda: aliases_of(client, store).get(PRODUCTION))


def promote(store: RegistryStore, name: str | int) -> AliasChange:
    """Give ``production`` to version ``name``; the former champion becomes ``previous``.

    Raises
    ------
    UnknownVersionError
        When ``name`` names no version.
    """
    client = store.client()

    def act() -> AliasChange:
        version = int(resolve(client, store, name).version)
        aliases = aliases_of(client, store)
        champion = aliases.get(PRODUCTION)
        if champion == version:
            return AliasChange(version, aliases.get(PREVIOUS), changed=False)
        history = [v for v in _history(client, store, champion) if v != version] + [version]
        _set(client, store, history)
        client.set_model_version_tag(store.model_name, str(version), "promoted_at", _now())
        return AliasChange(version, champion, changed=True)

    return store.call(act)


def rollback(store: RegistryStore) -> AliasChange:
    """Give ``production`` back to the champion before the current one.

    Returns
    -------
    AliasChange
        ``production``: the restored version; ``previous``: the version rolled back from.

    Raises
    ------
    NoProductionModelError
        When no version is in production, or none was in production before it.
    """
    client = store.client()

    def act() -> AliasChange:
        champion = aliases_of(client, store).get(PRODUCTION)
        if champion is None:
            raise NoProductionModelError(
                f"model {store.model_name!r} has no production version to roll back in the "
                f"registry at {store.shown_uri}; promote one with `abusenet models promote "
                "VERSION`"
            )
        history = _history(client, store, champion)[:-1]
        if not history:
            raise NoProductionModelError(
                f"version {champion} of {store.model_name!r} is the first production version: "
                "there is no earlier one to roll back to; promote another with `abusenet "
                "models promote VERSION`"
            )
        _set(client, store, history)
        client.set_model_version_tag(store.model_name, str(champion), "rolled_back_at", _now())
        return AliasChange(history[-1], champion, changed=True)

    return store.call(act)


def _history(client: MlflowClient, store: RegistryStore, champion: int | None) -> list[int]:
    """The promotion history, ending with ``champion`` (rebuilt from it when the tag is lost)."""
    tag = client.get_registered_model(store.model_name).tags.get(HISTORY_TAG)
    history = [int(v) for v in json.loads(tag)] if tag else []
    if champion is not None and (not history or history[-1] != champion):
        history = [v for v in history if v != champion] + [champion]
    return history


def _set(client: MlflowClient, store: RegistryStore, history: list[int]) -> None:
    """Point ``production`` and ``previous`` at the end of ``history`` and record it."""
    name = store.model_name
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    client.set_registered_model_alias(name, PRODUCTION, str(history[-1]))
    if len(history) > 1:
        client.set_registered_model_alias(name, PREVIOUS, str(history[-2]))
    elif PREVIOUS in aliases_of(client, store):
        client.delete_registered_model_alias(name, PREVIOUS)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
