"""The parameters every environment is built from: plain dataclasses, validated on construction.

Fitted behaviour models (``envs/models/``, ``retailrl sim fit``) produce these parameters and write them to
``params.json`` in a fit directory; :func:`load_fit_params` and each class's ``from_fit_dir`` read them back.
``params.json`` holds one object per section: ``{"click": {...}, "demand": {...}, "inventory": {...}}``; each
section's keys are the dataclass's field names (arrays as nested lists), see :meth:`to_dict`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from sim_data.io import atomic_write

PARAMS_FILE = "params.json"


def _array(value: Any, name: str, ndim: int | tuple[int, ...], *, low: float | None = None,
           high: float | None = None) -> np.ndarray:
    """``value`` as a float64 array with ``ndim`` dimensions and every entry in ``[low, high]``; raises ``ValueError``."""
    arr = np.asarray(value, dtype=np.float64)
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in ndims:
        raise ValueError(f"{name}: expected an array with {' or '.join(map(str, ndims))} dimension(s), found shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: expected at least one entry, found an empty array")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite numbers, found {arr[~np.isfinite(arr)][:3].tolist()}")
    if low is not None and np.any(arr < low):
        raise ValueError(f"{name}: expected every entry >= {low}, found min {arr.min():.6g}")
    if high is not None and np.any(arr > high):
        raise ValueError(f"{name}: expected every entry <= {high}, found max {arr.max():.6g}")
    return arr


def _per_item(value: Any, n: int, name: str, *, low: float | None = None) -> np.ndarray:
    """A scalar or an ``(n,)`` array, broadcast to shape ``(n,)``."""
    arr = _array(value, name, (0, 1), low=low)
    if arr.ndim == 1 and arr.shape[0] != n:
        raise ValueError(f"{name}: expected a scalar or an array of length {n}, found length {arr.shape[0]}")
    return np.broadcast_to(arr, (n,)).astype(np.float64).copy()


def _probabilities(value: Any, name: str) -> np.ndarray:
    """An array whose last axis is a probability vector (non-negative, sums to 1 within 1e-6)."""
    arr = _array(value, name, (1, 2), low=0.0)
    sums = arr.sum(axis=-1)
    if np.any(np.abs(sums - 1.0) > 1e-6):
        raise ValueError(f"{name}: expected each probability vector to sum to 1, found sums {np.round(sums, 6).tolist()}")
    return arr / sums[..., None]


class _Serializable:
    """``to_dict``/``from_dict``/``from_fit_dir``/``to_json`` shared by the parameter classes."""

    SECTION = ""

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values (arrays become nested lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = value.tolist() if isinstance(value, np.ndarray) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Build from a dict of field values; raises ``ValueError`` naming unknown keys."""
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected a JSON object of fields, found {type(data).__name__}")
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}; expected some of {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_fit_dir(cls, path: str | Path):
        """Read section ``SECTION`` of ``path/params.json`` (written by ``retailrl sim fit``)."""
        return cls.from_dict(load_fit_params(path, cls.SECTION))

    def to_json(self, path: str | Path) -> Path:
        """Write (or update) this section of a ``params.json`` file atomically; other sections are kept."""
        path = Path(path)
        if path.is_dir():
            path = path / PARAMS_FILE
        doc = json.loads(path.read_text()) if path.exists() else {}
        doc[self.SECTION] = self.to_dict()
        return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(doc, indent=2)))


def load_fit_params(path: str | Path, section: str) -> dict[str, Any]:
    """Section ``section`` of ``params.json`` in fit directory ``path`` (or of the file ``path`` itself).

    :raises FileNotFoundError: no such file.
    :raises ValueError: the file is not JSON or lacks the section.
    """
    path = Path(path)
    file = path / PARAMS_FILE if path.is_dir() else path
    if not file.exists():
        raise FileNotFoundError(f"no {PARAMS_FILE} at {file}: run `retailrl sim fit ... --out DIR` first")
    try:
        doc = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}: not valid JSON ({exc})") from None
    if section not in doc:
        raise ValueError(f"{file}: expected a section {section!r}, found sections {sorted(doc)}")
    return doc[section]


@dataclass
class ClickParams(_Serializable):
    """Shoppers and clicks for ad allocation: a position-based click model over context segments.

    P(click | context c, item a, slot k) = ``position_bias[k] * relevance[c, a]``.

    :param relevance: ``(n_contexts, n_items)`` item relevance per context segment, in [0, 1].
    :param position_bias: ``(n_positions,)`` examination probability kappa_k per slot, in [0, 1].
    :param context_probs: ``(n_contexts,)`` context distribution, or ``(n_day_parts, n_contexts)``: one
        distribution per equal part of the day (arrival t of T uses part ``t * n_day_parts // T``).
    :param context_features: ``(n_contexts, n_features)`` what the policy sees of each context; ``None`` means
        one-hot segment indicators.
    :param cost_per_click: scalar or ``(n_items,)`` cost charged to the budget per click, >= 0.
    :param cost_per_impression: scalar or ``(n_items,)`` cost charged per shown item, >= 0.
    :param conversion_prob: scalar or ``(n_items,)`` P(purchase | click), in [0, 1].
    :param purchase_value: scalar or ``(n_items,)`` value of a purchase, >= 0.
    """

    SECTION = "click"

    relevance: Any
    position_bias: Any
    context_probs: Any
    context_features: Any = None
    cost_per_click: Any = 1.0
    cost_per_impression: Any = 0.0
    conversion_prob: Any = 0.0
    purchase_value: Any = 0.0

    def __post_init__(self) -> None:
        self.relevance = _array(self.relevance, "relevance", 2, low=0.0, high=1.0)
        n_contexts, n_items = self.relevance.shape
        self.position_bias = _array(self.position_bias, "position_bias", 1, low=0.0, high=1.0)
        self.context_probs = _probabilities(self.context_probs, "context_probs")
        if self.context_probs.ndim == 1:
            self.context_probs = self.context_probs[None, :]
        if self.context_probs.shape[1] != n_contexts:
            raise ValueError(f"context_probs: expected {n_contexts} contexts (rows of relevance), "
                             f"found {self.context_probs.shape[1]}")
        if self.context_features is None:
            self.context_features = np.eye(n_contexts)
        self.context_features = _array(self.context_features, "context_features", 2)
        if self.context_features.shape[0] != n_contexts:
            raise ValueError(f"context_features: expected {n_contexts} rows, found {self.context_features.shape[0]}")
        self.cost_per_click = _per_item(self.cost_per_click, n_items, "cost_per_click", low=0.0)
        self.cost_per_impression = _per_item(self.cost_per_impression, n_items, "cost_per_impression", low=0.0)
        self.conversion_prob = _per_item(self.conversion_prob, n_items, "conversion_prob", low=0.0)
        if np.any(self.conversion_prob > 1):
            raise ValueError("conversion_prob: expected probabilities in [0, 1]")
        self.purchase_value = _per_item(self.purchase_value, n_items, "purchase_value", low=0.0)

    @property
    def n_contexts(self) -> int:
        return int(self.relevance.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.relevance.shape[1])

    @property
    def n_positions(self) -> int:
        return int(self.position_bias.shape[0])

    @property
    def n_day_parts(self) -> int:
        return int(self.context_probs.shape[0])


@dataclass
class DemandParams(_Serializable):
    """Shoppers choosing among N products by a multinomial logit (optionally a mixture of latent classes).

    Utility of product j for class c: ``intercepts[c, j] + beta_price[c] * price_j + display_coef * display[j]
    + feature_coef * feature[j]``; the no-purchase option has utility ``outside_utility``.
    Shoppers arrive per period as Poisson(``arrival_rate``); each chooses independently, so the units of product
    j sold in a period are Poisson(``arrival_rate * P_j``) (Poisson thinning), independent across products.

    :param product_names: N names.
    :param intercepts: ``(N,)`` or ``(n_classes, N)`` brand intercepts alpha_j.
    :param beta_price: scalar or ``(n_classes,)`` price coefficient(s), < 0.
    :param unit_cost: scalar or ``(N,)`` marginal cost per unit, >= 0.
    :param price_low: scalar or ``(N,)`` lowest allowed price (the grid's and the continuous action's lower end).
    :param price_high: scalar or ``(N,)`` highest allowed price, > ``price_low``.
    :param arrival_rate: expected shoppers per period (Poisson), > 0.
    :param outside_utility: utility of not buying.
    :param display_coef: utility of being on in-store display.
    :param feature_coef: utility of a feature ad.
    :param display: scalar or ``(N,)`` display indicator (0/1 or a share) held fixed in the environment.
    :param feature: scalar or ``(N,)`` feature-ad indicator held fixed in the environment.
    :param class_probs: ``(n_classes,)`` latent-class shares; ``None`` is one class.
    """

    SECTION = "demand"

    product_names: Any
    intercepts: Any
    beta_price: Any
    unit_cost: Any
    price_low: Any
    price_high: Any
    arrival_rate: float = 50.0
    outside_utility: float = 0.0
    display_coef: float = 0.0
    feature_coef: float = 0.0
    display: Any = 0.0
    feature: Any = 0.0
    class_probs: Any = None

    def __post_init__(self) -> None:
        self.product_names = [str(n) for n in self.product_names]
        n = len(self.product_names)
        if n == 0:
            raise ValueError("product_names: expected at least one product")
        self.intercepts = _array(self.intercepts, "intercepts", (1, 2))
        if self.intercepts.ndim == 1:
            self.intercepts = self.intercepts[None, :]
        if self.intercepts.shape[1] != n:
            raise ValueError(f"intercepts: expected {n} columns (one per product), found {self.intercepts.shape[1]}")
        n_classes = self.intercepts.shape[0]
        self.class_probs = _probabilities(np.ones(n_classes) / n_classes if self.class_probs is None
                                          else self.class_probs, "class_probs")
        if self.class_probs.shape != (n_classes,):
            raise ValueError(f"class_probs: expected shape ({n_classes},), found {self.class_probs.shape}")
        self.beta_price = _per_item(self.beta_price, n_classes, "beta_price")
        if np.any(self.beta_price >= 0):
            raise ValueError(f"beta_price: expected negative price coefficients, found {self.beta_price.tolist()}")
        self.unit_cost = _per_item(self.unit_cost, n, "unit_cost", low=0.0)
        self.price_low = _per_item(self.price_low, n, "price_low", low=0.0)
        self.price_high = _per_item(self.price_high, n, "price_high", low=0.0)
        if np.any(self.price_high <= self.price_low):
            raise ValueError("price_high: expected every entry > price_low")
        self.arrival_rate = float(_array(self.arrival_rate, "arrival_rate", 0, low=0.0))
        if self.arrival_rate <= 0:
            raise ValueError("arrival_rate: expected > 0")
        for name in ("outside_utility", "display_coef", "feature_coef"):
            setattr(self, name, float(_array(getattr(self, name), name, 0)))
        self.display = _per_item(self.display, n, "display", low=0.0)
        self.feature = _per_item(self.feature, n, "feature", low=0.0)

    @property
    def n_products(self) -> int:
        return len(self.product_names)

    def utilities_without_price(self) -> np.ndarray:
        """``(n_classes, N)`` utilities before the price term, relative to the outside option."""
        return (self.intercepts + self.display_coef * self.display + self.feature_coef * self.feature
                - self.outside_utility)

    def choice_probs(self, prices: np.ndarray, offered: np.ndarray | None = None) -> np.ndarray:
        """Purchase probabilities of each product for one shopper.

        :param prices: ``(..., N)`` prices.
        :param offered: ``(..., N)`` bool, which products are in the choice set (``None``: all).
        :return: ``(..., N)`` probabilities; ``1 - sum`` is the no-purchase probability.
        """
        prices = np.asarray(prices, dtype=np.float64)
        base = self.utilities_without_price()  # (C, N)
        util = base + self.beta_price[:, None] * prices[..., None, :]  # (..., C, N)
        expu = np.exp(np.minimum(util, 50.0))
        if offered is not None:
            expu = expu * np.asarray(offered, dtype=np.float64)[..., None, :]
        probs = expu / (1.0 + expu.sum(axis=-1, keepdims=True))
        return np.einsum("...cn,c->...n", probs, self.class_probs)

    def price_grid(self, n_levels: int) -> np.ndarray:
        """``(N, n_levels)`` equally spaced prices from ``price_low`` to ``price_high``."""
        if n_levels < 2:
            raise ValueError(f"n_price_levels: expected >= 2, found {n_levels}")
        return np.linspace(self.price_low, self.price_high, n_levels, axis=1)


@dataclass
class BernoulliDemandParams(_Serializable):
    """One shopper per period buys one unit of a single product with a known probability at each price point.

    :param prices: ``(K,)`` the price points.
    :param purchase_probs: ``(K,)`` P(purchase | price k), in [0, 1].
    :param unit_cost: cost per unit sold, >= 0.
    """

    SECTION = "bernoulli_demand"

    prices: Any
    purchase_probs: Any
    unit_cost: float = 0.0

    def __post_init__(self) -> None:
        self.prices = _array(self.prices, "prices", 1, low=0.0)
        self.purchase_probs = _array(self.purchase_probs, "purchase_probs", 1, low=0.0, high=1.0)
        if self.purchase_probs.shape != self.prices.shape:
            raise ValueError(f"purchase_probs: expected shape {self.prices.shape} (one per price), "
                             f"found {self.purchase_probs.shape}")
        self.unit_cost = float(_array(self.unit_cost, "unit_cost", 0, low=0.0))

    @property
    def n_prices(self) -> int:
        return int(self.prices.shape[0])


@dataclass
class InventoryParams(_Serializable):
    """Replenishment of N products: Poisson demand (or choice-model demand), lead time, costs.

    Costs are per product (scalar or ``(N,)``). Per period: ordering ``fixed_order_cost * [q > 0] +
    unit_order_cost * q``; holding ``holding_cost`` per unit on hand at the end of the period; with backorders
    ``backorder_cost`` per unit backlogged at the end of the period, else ``lost_sale_cost`` per unit of demand
    not met.

    :param demand_mean: scalar or ``(N,)`` Poisson demand mean per period (used unless the environment gets a
        :class:`DemandParams`).
    :param lead_time: periods L between placing an order and its arrival (0: arrives before this period's demand).
    :param backorders: True: unmet demand waits (net inventory goes negative); False: it is lost.
    """

    SECTION = "inventory"

    demand_mean: Any = 10.0
    lead_time: int = 2
    holding_cost: Any = 1.0
    backorder_cost: Any = 9.0
    lost_sale_cost: Any = 9.0
    fixed_order_cost: Any = 0.0
    unit_order_cost: Any = 0.0
    backorders: bool = True
    n_products: int = field(default=0)

    def __post_init__(self) -> None:
        mean = _array(self.demand_mean, "demand_mean", (0, 1), low=0.0)
        n = int(mean.size) if self.n_products == 0 else int(self.n_products)
        if n < 1:
            raise ValueError(f"n_products: expected >= 1, found {n}")
        self.n_products = n
        self.demand_mean = _per_item(mean, n, "demand_mean", low=0.0)
        if int(self.lead_time) != self.lead_time or self.lead_time < 0:
            raise ValueError(f"lead_time: expected a whole number >= 0, found {self.lead_time}")
        self.lead_time = int(self.lead_time)
        for name in ("holding_cost", "backorder_cost", "lost_sale_cost", "fixed_order_cost", "unit_order_cost"):
            setattr(self, name, _per_item(getattr(self, name), n, name, low=0.0))
        self.backorders = bool(self.backorders)
