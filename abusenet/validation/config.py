"""Settings of automated validation (``validation:``): out-of-time window, challenger, gates,
drift thresholds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GatesConfig(_Section):
    """The promotion gates of ``abusenet run --promote``: every one must pass.

    Attributes
    ----------
    max_auroc_drop
        The new model's AUROC on the out-of-time window (the random hold-out without one) may
        be at most this much below the champion's, both measured on the same labels.
    min_auprc_margin
        The new model's AUPRC minus the challenger's (XGB-Graph) must be at least this.
    max_ece
        Largest expected calibration error of the published account scores without label
        noise (``ece_debiased`` of :func:`gnn.evaluate.reliability`: each bin's gap with the
        variance it has under perfect calibration taken out). Before session 15 it limited the
        raw ECE, which a calibrated model exceeds by chance on a few hundred labels.
    min_slice_auroc
        No time slice with both classes may score an AUROC below this.
    """

    max_auroc_drop: float = Field(0.005, ge=0.0)
    min_auprc_margin: float = 0.0
    max_ece: float = Field(0.05, ge=0.0, le=1.0)
    min_slice_auroc: float = Field(0.6, ge=0.0, le=1.0)


class DriftConfig(_Section):
    """Drift thresholds of ``abusenet score`` (a model's training reference vs new data).

    Attributes
    ----------
    max_feature_psi
        Largest population stability index of any input feature.
    max_score_psi
        Largest PSI of the account score distribution.
    max_unseen_share
        Largest share of the new data's accounts the training graph did not hold.
    bins
        Quantile bins of the reference distributions.
    """

    max_feature_psi: float = Field(0.25, ge=0.0)
    max_score_psi: float = Field(0.25, ge=0.0)
    max_unseen_share: float = Field(0.9, ge=0.0, le=1.0)
    bins: int = Field(10, ge=2, le=100)


class ValidationConfig(_Section):
    """The ``validation:`` section of a run config.

    Attributes
    ----------
    out_of_time_days
        Labels known in the latest this-many days are held out of training as the out-of-time
        window (0: none). Label time is the labels' ``ts``, else the account's first event.
    gap_days
        Labels in the this-many days before the window are used for neither (label delay).
    slice_days
        Width of the time slices of the per-slice metrics (7: weekly).
    challenger
        Train XGB-Graph on the same split and the GNN + XGB-Graph blend as candidates; the
        published scores come from the one that wins on the validation labels.
    selection_metric
        ``auroc`` or ``auprc``: how the winner is chosen.
    publish
        ``best`` (the winner on the validation labels) or a candidate's name (``gnn``,
        ``xgb-graph``, ``blend``) published whatever the figures say.
    min_challenger_positives
        With ``publish: best``, the positives the validation labels need before another
        candidate may replace the GNN: a figure on fewer is mostly chance (the GNN stays
        published, with a warning).
    gates, drift
        :class:`GatesConfig`, :class:`DriftConfig`.
    """

    out_of_time_days: float = Field(14.0, ge=0.0)
    gap_days: float = Field(0.0, ge=0.0)
    slice_days: float = Field(7.0, gt=0.0)
    challenger: bool = True
    selection_metric: str = Field("auprc", pattern="^(auroc|auprc)$")
    publish: str = Field("best", pattern="^(best|gnn|xgb-graph|blend)$")
    min_challenger_positives: int = Field(10, ge=0)
    gates: GatesConfig = GatesConfig()
    drift: DriftConfig = DriftConfig()
