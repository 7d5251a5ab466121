"""After a training run: register its model, and with ``--promote`` promote it by rule.

A registry failure never fails a run whose files are published: it becomes a warning and a
line of the summary. The champion (the registry's production version) is fetched and
re-scored on this run's comparison labels (:func:`abusenet.validation.promotion.decide`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from abusenet.pipeline.config import RunConfig
    from abusenet.pipeline.run import RunResult

logger = logging.getLogger(__name__)


def register_and_gate(result: RunResult, settings: RunConfig, *, promote: bool) -> dict[str, Any]:
    """Register the run's model; with ``promote``, check the gates and promote when all pass.

    Returns
    -------
    dict
        ``registry``: ``{"version": N, "model_name": ...}`` or ``{"warning": text}``; with
        ``promote`` also ``promotion``: :meth:`PromotionDecision.to_dict` plus ``promoted``
        (and ``warning`` when the decision could not be made).
    """
    from abusenet.registry import (
        PRODUCTION,
        RegistryError,
        RegistryStore,
        fetch_model_dir,
        register_run,
    )
    from abusenet.registry import (
        promote as promote_version,
    )
    from abusenet.registry.versions import aliases_of
    from abusenet.validation.promotion import comparison_labels, decide, read_metrics

    extra: dict[str, Any] = {}
    try:
        store = RegistryStore.from_environment(model_name=settings.registry.model_name)
        champion_version = None
        if promote and not store.missing:
            client = store.client()
            champion_version = store.call(lambda: aliases_of(client, store).get(PRODUCTION))
        version = register_run(result.out_dir, settings=settings, store=store)
        extra["registry"] = {"version": version, "model_name": store.model_name}
    except RegistryError as err:
        logger.warning("model not registered: %s", err)
        return {"registry": {"warning": str(err)}}
    if not promote:
        return extra
    train_dir = result.outcomes["train"].output_dir
    labels_stage = result.outcomes.get("labels")
    holdout = labels_stage.output_dir / "holdout_labels.parquet" if labels_stage else None
    try:
        labels, what = comparison_labels(train_dir, holdout)
        champion_dir = (None if champion_version in (None, version)
                        else fetch_model_dir(store, champion_version))
        decision = decide(result.out_dir / "model", champion_dir, result.snapshot_dir, labels,
                          what, read_metrics(result.out_dir), settings.validation,
                          champion_version)
        block = decision.to_dict()
        if decision.passed:
            change = promote_version(store, version)
            block["promoted"] = True
            block["production"] = change.production
        else:
            block["promoted"] = False
    except (RegistryError, ValueError) as err:
        logger.warning("not promoted: %s", err)
        block = {"promoted": False, "warning": str(err)}
    extra["promotion"] = block
    return extra
