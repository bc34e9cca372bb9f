"""The one schema for logged data: three tables, their columns, dtypes and invariants.

Every table is a long-format :class:`pandas.DataFrame`. Columns are listed below; :mod:`sim_data.validate`
enforces them and the invariants named in each table's ``invariants``.

**Bandit feedback** (one row per logged decision, i.e. per impression of one action in one slot)

=============  ===========  ==========================================================================
column         dtype        meaning
=============  ===========  ==========================================================================
event_id       string       unique id of the logged decision
timestamp      datetime64   when it was made (UTC)
action         int64        chosen action id, ``0 <= action < n_actions``
position       int64        slot the action was shown in, ``0 <= position < n_positions``
propensity     float64      probability the logging policy chose ``action`` for ``position``, in (0, 1];
                            a column that is entirely NaN marks the propensities as *unknown*
reward         float64      observed reward (click = 1.0, purchase value, ...), finite
candidates     string       optional: the space-separated action ids that were eligible ("0 3 7");
                            absent means every action was eligible
context_*      number/str   context features (any number of columns, named ``context_<name>``)
=============  ===========  ==========================================================================

**Choice / purchase log** (one row per product offered on one purchase occasion)

=============  ===========  ==========================================================================
shopper_id     string       the shopper (household, panelist, session)
occasion_id    int64        the purchase occasion; all of its rows share shopper and time
time           int64 / dt   week number, period index, or timestamp; never goes backwards per shopper
product        string       the offered product (brand, SKU); unique within an occasion
price          float64      shelf price paid or offered, >= 0
display        int64        1 if the product was on in-store/on-site display, else 0
feature        int64        1 if the product was in a feature ad (promotion), else 0
chosen         int64        1 for the product bought; at most one per occasion (none = no purchase)
quantity       float64      units bought, >= 0; > 0 exactly on the chosen row, 0 elsewhere
shopper_*      number/str   optional shopper features
=============  ===========  ==========================================================================

**Stock log** (one row per product and period)

=============  ===========  ==========================================================================
product        string       the product
period         int64        period index; unique per product
on_hand        float64      units on hand at the start of the period, >= 0
ordered        float64      units ordered in the period, >= 0
received       float64      units received in the period, >= 0
sold           float64      units sold, >= 0 and <= on_hand + received
lost_sales     float64      optional: demand not met for lack of stock, >= 0 (NaN where unknown)
=============  ===========  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["int", "float", "string", "time", "feature", "int_or_time"]
TableKind = Literal["bandit", "choice", "stock"]


@dataclass(frozen=True)
class Column:
    """One column of a table.

    :param name: canonical column name.
    :param kind: ``int``, ``float``, ``string``, ``time`` (datetime), ``int_or_time``, or ``feature`` (number or string).
    :param required: whether the column must be present.
    :param nullable: whether NaN / missing values are allowed.
    :param lower: inclusive lower bound (numbers), or ``None``.
    :param upper: inclusive upper bound (numbers), or ``None``.
    :param lower_open: whether the lower bound is exclusive.
    :param allowed: the only allowed values (e.g. ``(0, 1)`` for flags), or ``None``.
    :param description: one line for docs and ``retailrl data schema``.
    """

    name: str
    kind: Kind
    required: bool = True
    nullable: bool = False
    lower: float | None = None
    upper: float | None = None
    lower_open: bool = False
    allowed: tuple | None = None
    description: str = ""

    def expected(self) -> str:
        """The column's constraint, in words, for error messages."""
        words = {"int": "integers", "float": "finite numbers", "string": "strings", "time": "timestamps",
                 "int_or_time": "integers or timestamps", "feature": "numbers or strings"}[self.kind]
        if self.allowed is not None:
            return f"one of {list(self.allowed)}"
        if self.lower is not None or self.upper is not None:
            lo = "-inf" if self.lower is None else f"{self.lower:g}"
            hi = "inf" if self.upper is None else f"{self.upper:g}"
            return f"{words} in {'(' if self.lower_open else '['}{lo}, {hi}]"
        return words


@dataclass(frozen=True)
class TableSchema:
    """A table's columns, the prefix its free-form feature columns carry, and its invariants in words."""

    kind: TableKind
    columns: tuple[Column, ...]
    feature_prefix: str | None
    invariants: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.kind} table has no column {name!r}; its columns are {self.names}")

    def is_feature(self, name: str) -> bool:
        return self.feature_prefix is not None and name.startswith(self.feature_prefix) and len(name) > len(self.feature_prefix)


BANDIT = TableSchema(
    kind="bandit",
    columns=(
        Column("event_id", "string", description="unique id of the logged decision"),
        Column("timestamp", "time", description="when the decision was made (UTC)"),
        Column("action", "int", lower=0, description="chosen action id"),
        Column("position", "int", lower=0, description="slot the action was shown in (0-based)"),
        Column("propensity", "float", nullable=True, lower=0.0, upper=1.0, lower_open=True,
               description="logging probability of (action, position); all-NaN marks it unknown"),
        Column("reward", "float", description="observed reward"),
        Column("candidates", "string", required=False, description="space-separated eligible action ids"),
    ),
    feature_prefix="context_",
    invariants=(
        "event_id is unique",
        "propensity is in (0, 1] on every row, or NaN on every row (unknown propensities)",
        "action is among the row's candidates when candidates is given",
        "action < n_actions and position < n_positions when those are given",
    ),
)

CHOICE = TableSchema(
    kind="choice",
    columns=(
        Column("shopper_id", "string", description="the shopper"),
        Column("occasion_id", "int", description="the purchase occasion"),
        Column("time", "int_or_time", description="week, period or timestamp of the occasion"),
        Column("product", "string", description="the offered product"),
        Column("price", "float", lower=0.0, description="price, >= 0"),
        Column("display", "int", allowed=(0, 1), description="1 if on display"),
        Column("feature", "int", allowed=(0, 1), description="1 if in a feature ad"),
        Column("chosen", "int", allowed=(0, 1), description="1 for the product bought"),
        Column("quantity", "float", lower=0.0, description="units bought"),
    ),
    feature_prefix="shopper_",
    invariants=(
        "at most one chosen product per occasion",
        "product is unique within an occasion",
        "an occasion has one shopper and one time",
        "time never goes backwards within a shopper (in row order)",
        "quantity > 0 on the chosen row and 0 on the others",
    ),
)

STOCK = TableSchema(
    kind="stock",
    columns=(
        Column("product", "string", description="the product"),
        Column("period", "int", description="period index"),
        Column("on_hand", "float", lower=0.0, description="units on hand at the start of the period"),
        Column("ordered", "float", lower=0.0, description="units ordered in the period"),
        Column("received", "float", lower=0.0, description="units received in the period"),
        Column("sold", "float", lower=0.0, description="units sold in the period"),
        Column("lost_sales", "float", required=False, nullable=True, lower=0.0,
               description="unmet demand (optional)"),
    ),
    feature_prefix=None,
    invariants=(
        "(product, period) is unique",
        "sold <= on_hand + received",
    ),
)

SCHEMAS: dict[str, TableSchema] = {"bandit": BANDIT, "choice": CHOICE, "stock": STOCK}


def schema_for(kind: str) -> TableSchema:
    """The schema of a table kind; raises a ``ValueError`` naming the kinds that exist."""
    try:
        return SCHEMAS[kind]
    except KeyError:
        raise ValueError(f"unknown table kind {kind!r}: expected one of {sorted(SCHEMAS)}") from None
