"""Settings of a batch run: built-in defaults, a YAML file on top, ``KEY=VALUE`` overrides last.

A run config has these sections (``configs/default.yaml`` spells out every one):

``ingest``
    ``max_bad_fraction``: the share of input rows that may be quarantined before the run stops.
``labels``
    ``holdout_fraction`` and ``seed``: the share of the given labels held back from training for
    ``metrics.json`` (stratified); ``unlabelled_as_negative``: ``auto`` treats every unlabelled
    account as legitimate when the labels name abusive accounts only (AMLSim's alert lists),
    ``true`` always, ``false`` never.
``rings``
    Keyword arguments of :class:`graph.rings.config.RingConfig` (empty = its defaults).
``ring_scoring``
    Keyword arguments of :func:`gnn.rings.score_rings` (``account_weight``, ``top_k``,
    ``nms_jaccard``, ``fragment_share``, ``fragment_factor``), and ``min_score``: rings
    scoring below it are not reported.
``detector``
    Keyword arguments of :class:`gnn.detector.AccountDetector` (empty = its defaults).
``neo4j``
    ``uri``, ``user``, ``database`` (never a password: use ``NEO4J_PASSWORD`` or the local
    server's password file), ``load_mode`` for :func:`graph.store.load_snapshot`.
``report``
    ``top_rings`` drawn in the report, ``top_entities`` listed per entity type, and
    ``explain_members``: how many of each drawn ring's riskiest members the model explains
    (``explanations.parquet``; 0 = none).

Unknown sections or keys stop the run before any work, naming the key and the known ones.
"""

from __future__ import annotations

import copy
import inspect
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

#: The pipeline's own defaults. ``rings`` and ``detector`` stay empty: their libraries' defaults
#: apply unless a config file or an override sets a key.
DEFAULTS: dict[str, dict[str, Any]] = {
    "ingest": {"max_bad_fraction": 0.01},
    "labels": {"holdout_fraction": 0.2, "seed": 0, "unlabelled_as_negative": "auto"},
    "rings": {},
    "ring_scoring": {"account_weight": 0.7, "top_k": 3, "nms_jaccard": 0.5,
                     "fragment_share": 0.8, "fragment_factor": 0.5, "min_score": 0.5},
    "detector": {},
    "neo4j": {"uri": None, "user": None, "database": None, "load_mode": "auto"},
    "report": {"top_rings": 10, "top_entities": 20, "explain_members": 3},
}

#: Keys that may never appear in a config file or an override.
SECRET_KEYS = frozenset({"password", "neo4j_password", "auth"})


class ConfigError(ValueError):
    """A config file or override is malformed or names an unknown setting."""


def load_run_config(
    path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The run settings: :data:`DEFAULTS`, then the file at ``path``, then ``overrides``.

    Parameters
    ----------
    path
        A YAML file with any of the sections of :data:`DEFAULTS`.
    overrides
        ``SECTION.KEY=VALUE`` strings; values are parsed as YAML (``5``, ``0.1``, ``[8, 4]``).

    Returns
    -------
    dict
        Section -> settings, every key checked.

    Raises
    ------
    ConfigError
        On an unreadable file, an unknown section or key, a password, or a bad override.
    """
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        _merge(config, _read_yaml(Path(path)), str(path))
    for item in overrides or []:
        _merge(config, _parse_override(item), f"override {item!r}")
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            f"config file {path} does not exist; pass an existing YAML file to --config "
            "(see configs/default.yaml for every setting)"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, not {type(raw)}")
    return raw


def _parse_override(item: str) -> dict[str, Any]:
    key, sep, value = item.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise ConfigError(
            f"override {item!r} is not SECTION.KEY=VALUE; for example detector.max_epochs=5 or "
            "rings.max_size=30"
        )
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    return {parts[0]: {parts[1]: parsed}}


def _merge(config: dict[str, dict[str, Any]], update: dict[str, Any], where: str) -> None:
    for section, values in update.items():
        if section not in DEFAULTS:
            raise ConfigError(
                f"{where}: unknown section {section!r}; known sections are {sorted(DEFAULTS)}"
            )
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: section {section!r} must be a mapping of settings")
        known = known_keys(section)
        for key, value in values.items():
            if key in SECRET_KEYS:
                raise ConfigError(
                    f"{where}: {section}.{key} looks like a secret; never put credentials in a "
                    "config file: set NEO4J_PASSWORD in the environment, or let abusenet read "
                    "the local server's password file"
                )
            if key not in known:
                raise ConfigError(
                    f"{where}: unknown setting {section}.{key}; known settings of {section!r} "
                    f"are {sorted(known)}"
                )
            config[section][key] = value


def known_keys(section: str) -> set[str]:
    """The settings a section accepts (for ``rings`` and ``detector``: their libraries')."""
    if section == "rings":
        from graph.rings.config import RingConfig

        return {f.name for f in fields(RingConfig)}
    if section == "detector":
        from gnn.detector import AccountDetector

        return set(inspect.signature(AccountDetector).parameters)
    return set(DEFAULTS[section])
