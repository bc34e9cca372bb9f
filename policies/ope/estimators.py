"""Estimators by name, as the CLI and reports call them: ``make_estimator("switch-dr:threshold=20")``.

=============  ===========================================  ===================================
name           estimator                                    hyper-parameter (``name:key=value``)
=============  ===========================================  ===================================
dm             :class:`~policies.ope.bandit.DirectMethod`   -
ipw (ips)      :class:`~policies.ope.bandit.IPS`            ``clip`` (none by default)
snipw (snips)  :class:`~policies.ope.bandit.SNIPS`          ``clip`` (none by default)
dr             :class:`~policies.ope.bandit.DoublyRobust`   ``clip`` (none by default)
sndr           :class:`~policies.ope.bandit.SelfNormalizedDR` ``clip`` (none by default)
switch-dr      :class:`~policies.ope.bandit.SwitchDR`       ``threshold`` (SLOPE by default)
dr-os          :class:`~policies.ope.bandit.DROptimisticShrinkage` ``shrinkage`` (SLOPE by default)
ipw-clip       IPS with its ``clip`` chosen by SLOPE         -
dr-clip        DR with its ``clip`` chosen by SLOPE          -
position-ipw   :class:`~policies.ope.slate.PositionIPS`     ``clip``
slate-ipw      :class:`~policies.ope.slate.SlateIPS`        ``clip`` (needs slate ids)
=============  ===========================================  ===================================
"""

from __future__ import annotations

from collections.abc import Callable

from policies.ope.bandit import (
    IPS,
    SNIPS,
    DirectMethod,
    DoublyRobust,
    DROptimisticShrinkage,
    SelfNormalizedDR,
    SwitchDR,
)
from policies.ope.base import Estimator
from policies.ope.slate import PositionIPS, SlateIPS
from policies.ope.slope import SlopeTuned

DEFAULT_ESTIMATORS = ("dm", "ipw", "snipw", "dr", "sndr", "switch-dr", "dr-os")
_PLAIN: dict[str, tuple[Callable[..., Estimator], str | None]] = {
    "dm": (DirectMethod, None),
    "ipw": (IPS, "clip"), "ips": (IPS, "clip"),
    "snipw": (SNIPS, "clip"), "snips": (SNIPS, "clip"),
    "dr": (DoublyRobust, "clip"),
    "sndr": (SelfNormalizedDR, "clip"),
    "switch-dr": (SwitchDR, "threshold"),
    "dr-os": (DROptimisticShrinkage, "shrinkage"),
    "position-ipw": (PositionIPS, "clip"),
    "slate-ipw": (SlateIPS, "clip"),
}
_SLOPE: dict[str, tuple[Callable[[float], Estimator], str, float]] = {  # (make, parameter, grid power)
    "switch-dr": (lambda t: SwitchDR(threshold=t), "threshold", 1.0),
    "dr-os": (lambda s: DROptimisticShrinkage(shrinkage=s), "shrinkage", 2.0),
    "ipw-clip": (lambda c: IPS(clip=c), "clip", 1.0),
    "dr-clip": (lambda c: DoublyRobust(clip=c), "clip", 1.0),
}
ESTIMATOR_NAMES = tuple(sorted(set(_PLAIN) | set(_SLOPE)))


def make_estimator(spec: str) -> Estimator:
    """Build an estimator from ``name`` or ``name:param=value`` (e.g. ``ipw:clip=100``, ``switch-dr:threshold=20``).

    ``switch-dr``, ``dr-os``, ``ipw-clip`` and ``dr-clip`` without a value have their parameter chosen by SLOPE.
    :raises ValueError: naming the unknown estimator or parameter and listing the valid ones.
    """
    name, _, rest = spec.strip().lower().partition(":")
    if name not in _PLAIN and name not in _SLOPE:
        raise ValueError(f"unknown estimator {name!r}: expected one of {', '.join(ESTIMATOR_NAMES)}")
    if not rest:
        if name in _SLOPE:
            make, param, power = _SLOPE[name]
            return SlopeTuned(make=make, param=param, grid_power=power, name=name)
        return _PLAIN[name][0]()
    key, eq, value = rest.partition("=")
    cls, param = _PLAIN.get(name, (None, None))
    if cls is None or param is None or key != param or not eq:
        valid = f"'{name}:{param}=VALUE'" if param else f"no parameter for {name!r}"
        raise ValueError(f"estimator spec {spec!r}: expected {valid}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"estimator spec {spec!r}: {param} must be a number (or 'inf'), got {value!r}") from None
    return cls(**{param: number})


def parse_estimators(specs: str | list[str]) -> list[Estimator]:
    """A comma-separated list (or a list) of specs to estimators; see :func:`make_estimator`."""
    items = [s for s in (specs.split(",") if isinstance(specs, str) else specs) if s.strip()]
    if not items:
        raise ValueError(f"estimators: expected at least one of {', '.join(ESTIMATOR_NAMES)}")
    return [make_estimator(s) for s in items]
