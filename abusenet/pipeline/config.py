"""Settings of a batch run: built-in defaults, a YAML file on top, ``KEY=VALUE`` overrides last.

A run config (:class:`RunConfig`) has these sections (``configs/default.yaml`` spells out every
one), each a typed, read-only model:

``ingest`` (:class:`IngestConfig`)
    ``max_bad_fraction``: the share of input rows that may be quarantined before the run stops.
``labels`` (:class:`LabelsConfig`)
    ``holdout_fraction`` and ``seed``: the share of the given labels held back from training for
    ``metrics.json`` (stratified); ``unlabelled_as_negative``: ``auto`` treats every unlabelled
    account as legitimate when the labels name abusive accounts only (AMLSim's alert lists),
    ``true`` always, ``false`` never;
    ``rare_tie_users``: when filling, an unlabelled account that shares an entity of at most
    this many accounts with a labelled abusive one stays unlabelled (a chargeback list names
    some of a ring, not the rest; 0 fills them too). ``from_events``: with event labels
    (``--event-labels``), how accounts get labels from them: ``any`` (an account with a
    fraudulent labelled event is abusive, one whose labelled events are all genuine is
    legitimate; given account labels win over derived ones for the same account) or ``none`` (no
    derived labels). Read only when event labels are given.
``rings`` (:class:`graph.rings.config.RingConfig`)
    The ring-candidate search (empty = its defaults).
``ring_scoring`` (:class:`RingScoringConfig`)
    Keyword arguments of :func:`gnn.rings.score_rings` (``account_weight``, ``top_k``,
    ``nms_jaccard``, ``fragment_share``, ``fragment_factor``), and ``min_score``: rings
    scoring below it are not reported.
``detector`` (:class:`DetectorConfig`)
    Keyword arguments of :class:`gnn.detector.AccountDetector`, typed by its signature (empty =
    its defaults). The signature is read only when the section names a setting, so a run with
    the detector's defaults checks its config without importing torch.
``neo4j`` (:class:`Neo4jConfig`)
    ``uri``, ``user``, ``database`` (never a password: use ``NEO4J_PASSWORD`` or the local
    server's password file), ``load_mode`` for :func:`graph.store.load_snapshot`, and
    ``prune_max_fraction``: the largest share of its graph a ``--prune`` deletes without
    ``--force``; ``dump_before_prune``: dump the local server's database before a ``--prune``.
``report`` (:class:`ReportConfig`)
    ``top_rings`` drawn in the report, ``top_entities`` listed per entity type, and
    ``explain_members``: how many of each drawn ring's riskiest members the model explains
    (``explanations.parquet``; 0 = none).
``validation`` (:class:`abusenet.validation.config.ValidationConfig`)
    The out-of-time window (``out_of_time_days``, ``gap_days``), time slices (``slice_days``),
    the challenger and how the published candidate is chosen, the promotion ``gates`` of
    ``abusenet run --promote`` and the ``drift`` thresholds of ``abusenet score``.
``registry`` (:class:`abusenet.registry.config.RegistryConfig`)
    ``enabled``: register each trained model in the model registry; ``model_name``.
``serve`` (:class:`ServeConfig`)
    ``prepare_start``: a training run also computes what ``abusenet serve``'s start needs
    (its start caches), so that the service's first start on the run is as fast as a restart.

The whole config is validated when it is loaded, before any stage runs: an unknown section or
key, or a value of the wrong type, stops the run naming the key, the value and what is allowed.
"""

from __future__ import annotations

import functools
import inspect
import os
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, get_type_hints

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from abusenet.registry.config import RegistryConfig
from abusenet.validation.config import ValidationConfig
from gnn.labels import UnlabelledAsNegative
from graph.rings.config import RingConfig
from graph.store.load import MAX_PRUNE_FRACTION

#: How account labels are derived from event labels (``labels.from_events``): ``any``: an
#: account with a fraudulent labelled event is abusive, one whose labelled events are all genuine
#: is legitimate; ``none``: no account label is derived.
FromEvents = Literal["any", "none"]


class Section(BaseModel):
    """One section of a run config: typed, unknown keys refused, read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestConfig(Section):
    """``ingest``: how many bad input rows a run tolerates."""

    max_bad_fraction: float = Field(0.01, ge=0.0, le=1.0)


class LabelsConfig(Section):
    """``labels``: the held-back share of the labels, its seed, unlabelled accounts, and account
    labels derived from event labels."""

    holdout_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    seed: int = 0
    unlabelled_as_negative: UnlabelledAsNegative = "auto"
    rare_tie_users: int = Field(0, ge=0)
    from_events: FromEvents = "any"

    def split_settings(self) -> dict[str, Any]:
        """The settings that shape an account-label split (``from_events`` apart: it matters
        only with event labels, so that a run without them keeps its cache key)."""
        return self.model_dump(exclude={"from_events"})


class RingScoringConfig(Section):
    """``ring_scoring``: :func:`gnn.rings.score_rings` settings and the reported minimum."""

    account_weight: float = 0.7
    top_k: int = 3
    nms_jaccard: float = 0.5
    fragment_share: float = 0.8
    #: ``fragment_share`` with account scores (:func:`gnn.rings.score_rings`; session 10).
    labelled_fragment_share: float = 0.5
    fragment_factor: float = 0.5
    min_score: float = 0.5
    #: With account scores, a member stays in its ring when its own score reaches this (or its
    #: transfers tie it to kept members); None keeps every member (:func:`gnn.rings.trim_members`).
    min_member_score: float | None = 0.5
    #: Without labels a ring is reported when its null-model surprise reaches this. Chosen on a
    #: generated 10k world (seed 3, never the demo's seed 0): 855 significant rings held 33 % of
    #: all accounts at member precision 0.08; at 25, 43 rings, member precision 0.49, 75 % of the
    #: abusers in a reported ring. A money-flow shape is reported from its robust surprise
    #: (each group-level test held to ``graph.rings.null_model.GROUP_TERM_CAP`` orders) of
    #: ``gnn.ring_ranking.FLOW_REPORT_SURPRISE`` (5) when this bar is higher.
    unlabelled_min_surprise: float = 25.0
    #: With labels, what becomes of a candidate the null model explains by chance:
    #: ``drop`` (never reported), ``members`` (its members' own scores must carry it:
    #: pooled at least ``chance_min_pool``), ``flows`` (scored as a flow shape; before
    #: session 9). See :data:`gnn.rings.UNSURPRISING`.
    unsurprising: Literal["drop", "members", "flows"] = "drop"
    #: With labels, a ring whose members' pooled score is under this scores 0
    #: (:data:`gnn.rings.MIN_MEMBER_POOL`).
    min_member_pool: float = Field(0.1, ge=0.0, le=1.0)
    #: The pooled member score a ring explained by chance needs (``unsurprising: members``;
    #: :data:`gnn.rings.CHANCE_MIN_POOL`).
    chance_min_pool: float = Field(0.5, ge=0.0, le=1.0)
    #: With labels and a snapshot, ring membership holds each account's score to this many
    #: times the odds of its own evidence (its own features and transfers, no shared entity:
    #: :func:`gnn.association.guard_scores`), the training labels' accounts excepted; None (the
    #: default) leaves the scores as the model gave them. At 3
    #: (:data:`gnn.association.MAX_ASSOCIATION_ODDS`) a fraudster's relatives on the family
    #: laptop anchor no ring, at a cost in planted rings whose members have little of their own
    #: (:mod:`gnn.association`).
    max_association_odds: float | None = Field(None, gt=1.0)
    #: With labels, the false discovery rate at which the pairs chance explains, listed by the
    #: candidate stage of a run with a model (``rings.chance_pairs``), stay when both their
    #: accounts reach ``min_member_score`` (Benjamini-Hochberg over them all:
    #: :func:`graph.rings.anchored.paired_candidates`; 0.05 is
    #: :data:`graph.rings.anchored.PAIR_FDR`, what benchmarks.pairs measures). None (the
    #: default) lists and keeps none: with the GNN's scores it reported 28 honest couples in the
    #: pairs world (seed 7; a couple's two accounts score alike through what they share), and it
    #: adds pairs of fraudsters matching no true ring (cards-rings 23 -> 58 rings);
    #: benchmarks/README, session 29.
    pair_fdr: float | None = Field(None, gt=0.0, lt=1.0)

    def score_rings_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`gnn.rings.score_rings` (the reporting and
        calibration bars excluded)."""
        return self.model_dump(exclude={"min_score", "unlabelled_min_surprise",
                                        "min_member_pool", "chance_min_pool",
                                        "max_association_odds"})

    def calibrate_rings_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`gnn.rings.calibrate_rings`."""
        return {"min_member_pool": self.min_member_pool,
                "chance_min_pool": self.chance_min_pool}


class Neo4jConfig(Section):
    """``neo4j``: which server to use (never a password) and how to load it."""

    uri: str | None = None
    user: str | None = None
    database: str | None = None
    load_mode: Literal["auto", "driver", "bulk"] = "auto"
    prune_max_fraction: float = Field(MAX_PRUNE_FRACTION, ge=0.0, le=1.0)
    dump_before_prune: bool = True


class ReportConfig(Section):
    """``report``: how much of the run the report draws and explains."""

    top_rings: int = 10
    top_entities: int = 20
    explain_members: int = 3


def signature_model(cls: type, name: str) -> type[Section]:
    """A :class:`Section` with one field per keyword argument of ``cls``, typed as it is.

    Parameters
    ----------
    cls
        A class whose ``__init__`` has type hints and defaults.
    name
        The model's name.
    """
    hints = get_type_hints(cls.__init__)
    settings: dict[str, Any] = {
        parameter.name: (hints[parameter.name], parameter.default)
        for parameter in inspect.signature(cls).parameters.values()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    }
    return create_model(name, __base__=Section, __doc__=f"Settings of {cls.__name__}.",
                        **settings)


@functools.cache
def detector_model() -> type[Section]:
    """The model of the ``detector`` section: :class:`~gnn.detector.AccountDetector`'s keywords.

    Built on first use: it imports the detector, and with it torch and PyG (seconds).
    """
    from gnn.detector import AccountDetector

    return signature_model(AccountDetector, "DetectorSettings")


class DetectorConfig(Section):
    """``detector``: the settings a config names, already checked against :func:`detector_model`.

    The others keep the library's defaults; ``model_dump(exclude_unset=True)`` gives the keyword
    arguments to pass on.
    """

    model_config = ConfigDict(extra="allow", frozen=True)


class ServeConfig(Section):
    """``serve``: what a training run prepares for ``abusenet serve``.

    ``prepare_start`` (on by default) adds the ``serve_start`` stage: the start caches (the
    scorer's whole-graph pass and the stored events' columns) written under
    ``OUT/.work/serve``. At 1M accounts it costs about 170 CPU s and 1.8 GB of disk (session
    13, loaded machine) and saves the service's first start about 50 CPU s and 2 GB of peak
    memory; runs that are never served can turn it off.
    """

    prepare_start: bool = True


class RunConfig(Section):
    """Every setting of a batch run, by section."""

    ingest: IngestConfig = IngestConfig()
    labels: LabelsConfig = LabelsConfig()
    rings: RingConfig = RingConfig()
    ring_scoring: RingScoringConfig = RingScoringConfig()
    detector: DetectorConfig = DetectorConfig()
    neo4j: Neo4jConfig = Neo4jConfig()
    report: ReportConfig = ReportConfig()
    validation: ValidationConfig = ValidationConfig()
    registry: RegistryConfig = RegistryConfig()
    serve: ServeConfig = ServeConfig()


#: The pipeline's own defaults. ``rings`` and ``detector`` are their libraries' defaults.
DEFAULTS = RunConfig()

#: Keys that may never appear in a config file or an override.
SECRET_KEYS = frozenset({"password", "neo4j_password", "auth"})


class ConfigError(ValueError):
    """A config file or override is malformed, names an unknown setting or a bad value."""


def load_run_config(
    path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None
) -> RunConfig:
    """The run settings: :data:`DEFAULTS`, then the file at ``path``, then ``overrides``.

    Parameters
    ----------
    path
        A YAML file with any of the sections of :class:`RunConfig`.
    overrides
        ``SECTION.KEY=VALUE`` strings; values are parsed as YAML (``5``, ``0.1``, ``[8, 4]``).

    Returns
    -------
    RunConfig
        Every section validated.

    Raises
    ------
    ConfigError
        On an unreadable file, an unknown section or key, a password, a bad override, or a
        value its setting does not allow (one line per problem, naming where it was set).
    """
    raw: dict[str, dict[str, Any]] = {section: {} for section in RunConfig.model_fields}
    origins: dict[tuple[str, str], str] = {}
    if path is not None:
        _merge(raw, _read_yaml(Path(path)), str(path), origins)
    for item in overrides or []:
        _merge(raw, _parse_override(item), f"override {item!r}", origins)
    errors: list[Any] = []
    checked = dict(raw)
    if raw["detector"]:
        try:
            detector = detector_model().model_validate(raw["detector"])
            checked["detector"] = detector.model_dump(exclude_unset=True)
        except ValidationError as exc:
            errors += [{**e, "loc": ("detector", *e["loc"])} for e in exc.errors()]
    try:
        config = RunConfig.model_validate(checked)
    except ValidationError as exc:
        errors += exc.errors()
    if errors:
        raise ConfigError(_describe(errors, raw, origins)) from None
    return config


def known_keys(section: str) -> set[str]:
    """The settings a section accepts."""
    if section == "detector":
        return set(detector_model().model_fields)
    model = RunConfig.model_fields[section].annotation
    if is_dataclass(model):
        return {f.name for f in fields(model)}
    return set(model.model_fields)


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


def _merge(
    config: dict[str, dict[str, Any]],
    update: dict[str, Any],
    where: str,
    origins: dict[tuple[str, str], str],
) -> None:
    """Copy ``update``'s settings into ``config``, checking names; remember ``where`` each was."""
    for section, values in update.items():
        if section not in config:
            raise ConfigError(
                f"{where}: unknown section {section!r}; known sections are {sorted(config)}"
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
            origins[section, key] = where


def _describe(
    errors: list[Any], raw: dict[str, dict[str, Any]], origins: dict[tuple[str, str], str]
) -> str:
    """One line per bad setting: where it was set, its key and value, and what is allowed."""
    problems: dict[tuple[str, ...], list[str]] = {}
    for error in errors:
        section, *rest = (str(part) for part in error["loc"])
        key = (section, rest[0]) if rest else (section,)
        # Deeper locations are union members (their type names) or item positions ([0]).
        items = "".join(f"[{part}]" for part in rest[1:] if part.isdigit())
        message = f"{items}: {error['msg']}" if items else error["msg"]
        if message not in problems.setdefault(key, []):
            problems[key].append(message)
    lines = []
    for key, messages in problems.items():
        if len(key) == 2:
            where = origins.get(key, "defaults")
            value = raw[key[0]].get(key[1])
        else:  # the section as a whole (a check across its settings)
            where = ", ".join(dict.fromkeys(w for (s, _), w in origins.items() if s == key[0]))
            value = raw[key[0]]
        lines.append(f"{where or 'defaults'}: {'.'.join(key)} = {value!r} is not valid: "
                     f"{' or '.join(messages)}")
    return "\n".join(lines)
