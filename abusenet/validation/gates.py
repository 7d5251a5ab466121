"""The promotion gates: each one passed or failed, by how much.

Every gate compares one figure of the new model with a limit; ``margin`` is how far inside the
limit it is (negative: failed by that much). The calibration gate's figure is the ECE without
label noise (``ece_debiased``). A gate with nothing to compare (no champion yet,
no challenger, no time slices) passes and says so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from abusenet.validation.config import GatesConfig


@dataclass(frozen=True)
class Figures:
    """A model's figures on the comparison labels.

    Attributes
    ----------
    auroc, auprc
        On the out-of-time window (the random hold-out without one).
    ece
        Expected calibration error of its account scores there.
    slice_aurocs
        AUROC of each time slice with both classes.
    ece_debiased
        The ECE with the label noise of each bin taken out (``reliability(...)["ece_debiased"]``
        of :mod:`gnn.evaluate`): what the calibration gate holds to its limit; ``None``: not
        measured, and the gate holds the raw ``ece``.
    ece_noise
        The mean ECE a perfectly calibrated model shows on the same scores by chance (shown in
        the gate's detail only).
    """

    auroc: float | None
    auprc: float | None
    ece: float | None = None
    slice_aurocs: list[float] = field(default_factory=list)
    ece_debiased: float | None = None
    ece_noise: float | None = None


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome.

    Attributes
    ----------
    name
        ``auroc_vs_champion``, ``auprc_vs_challenger``, ``calibration`` or ``time_slices``.
    passed
        Whether the gate passed.
    value, limit
        The figure and the limit it is held to (``None`` when not checked).
    margin
        ``value`` minus ``limit`` for a floor, ``limit`` minus ``value`` for a ceiling: below 0
        the gate failed by that much.
    detail
        One line for people.
    """

    name: str
    passed: bool
    value: float | None
    limit: float | None
    margin: float | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON values."""
        return asdict(self)


def check_gates(
    new: Figures, *, champion: Figures | None, challenger_auprc: float | None,
    gates: GatesConfig,
) -> list[GateResult]:
    """Every gate of ``gates`` for the ``new`` model, in a fixed order."""
    results = []
    if champion is None or champion.auroc is None:
        results.append(GateResult("auroc_vs_champion", True, new.auroc, None, None,
                                  "no champion in production: nothing to compare"))
    else:
        results.append(_floor("auroc_vs_champion", new.auroc,
                              champion.auroc - gates.max_auroc_drop,
                              f"AUROC {_f(new.auroc)} vs the champion's {_f(champion.auroc)} "
                              f"on the same labels (at most {gates.max_auroc_drop} below)"))
    if challenger_auprc is None:
        results.append(GateResult("auprc_vs_challenger", True, new.auprc, None, None,
                                  "no challenger was trained"))
    else:
        results.append(_floor("auprc_vs_challenger", new.auprc,
                              challenger_auprc + gates.min_auprc_margin,
                              f"AUPRC {_f(new.auprc)} vs the challenger's "
                              f"{_f(challenger_auprc)}"))
    results.append(_calibration(new, gates.max_ece))
    if not new.slice_aurocs:
        results.append(GateResult("time_slices", True, None, gates.min_slice_auroc, None,
                                  "no time slice with both classes"))
    else:
        worst = min(new.slice_aurocs)
        results.append(_floor("time_slices", worst, gates.min_slice_auroc,
                              f"worst slice AUROC {_f(worst)} of {len(new.slice_aurocs)} "
                              f"(floor {gates.min_slice_auroc})"))
    return results


def failed(results: list[GateResult]) -> list[GateResult]:
    """The gates that failed."""
    return [r for r in results if not r.passed]


def _floor(name: str, value: float | None, limit: float, detail: str) -> GateResult:
    if value is None or not math.isfinite(value):
        return GateResult(name, False, None, limit, None, f"{detail}: not measurable")
    return GateResult(name, value >= limit, value, limit, value - limit, detail)


def _ceiling(name: str, value: float | None, limit: float, detail: str) -> GateResult:
    if value is None or not math.isfinite(value):
        return GateResult(name, False, None, limit, None, f"{detail}: not measurable")
    return GateResult(name, value <= limit, value, limit, limit - value, detail)


def _calibration(new: Figures, limit: float) -> GateResult:
    """The calibration gate: the ECE without label noise (``ece_debiased``) at most ``limit``.

    A calibrated model's raw ECE on a few hundred labels is 0.03-0.06 by chance alone, so
    holding the raw ECE to 0.05 failed good models at random on small label sets. The
    debiased ECE stays near 0 for a calibrated model whatever the count and near the raw ECE
    on large sets. Figures without it (older callers) are held to the raw ECE.
    """
    if new.ece_debiased is None:
        return _ceiling("calibration", new.ece, limit,
                        f"ECE {_f(new.ece)} (at most {limit}; label noise not measured)")
    return _ceiling("calibration", new.ece_debiased, limit,
                    f"ECE without label noise {_f(new.ece_debiased)} (at most {limit}); raw "
                    f"ECE {_f(new.ece)}, where a calibrated model shows "
                    f"{_f(new.ece_noise)} by chance on these labels")


def _f(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"
