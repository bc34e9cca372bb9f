"""A choice table (:data:`sim_data.schema.CHOICE`) as padded occasion-by-product arrays, and the time split.

Occasions are ordered by ``(time, occasion_id)``; products by the order given (default: sorted names).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim_data.logs import ChoiceLog

COVARIATES = ("price", "display", "feature")


@dataclass
class ChoiceArrays:
    """Occasion-level arrays of one choice table.

    :param products: product names, length ``J``.
    :param occasion_id: shape ``(N,)``.
    :param shopper: shopper index per occasion, shape ``(N,)`` into ``shoppers``.
    :param shoppers: shopper ids, length ``S``.
    :param time: the occasion's time as int64 (timestamps as nanoseconds), shape ``(N,)``.
    :param avail: shape ``(N, J)`` bool, the product was offered.
    :param x: covariates, shape ``(N, J, len(COVARIATES))`` (0 where not offered).
    :param y: chosen product index per occasion, ``-1`` for no purchase, shape ``(N,)``.
    """

    products: list[str]
    occasion_id: np.ndarray
    shopper: np.ndarray
    shoppers: list[str]
    time: np.ndarray
    avail: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    @property
    def has_no_purchase(self) -> bool:
        return bool((self.y < 0).any())

    def covariate(self, name: str) -> np.ndarray:
        """One covariate, shape ``(N, J)``."""
        return self.x[:, :, COVARIATES.index(name)]

    def subset(self, rows: np.ndarray) -> ChoiceArrays:
        """The occasions at ``rows`` (indices or a bool mask)."""
        return ChoiceArrays(self.products, self.occasion_id[rows], self.shopper[rows], self.shoppers,
                            self.time[rows], self.avail[rows], self.x[rows], self.y[rows])


def _table(data: ChoiceLog | pd.DataFrame) -> pd.DataFrame:
    if isinstance(data, ChoiceLog):
        return data.table
    if isinstance(data, pd.DataFrame):
        missing = [c for c in ("shopper_id", "occasion_id", "time", "product", "chosen", *COVARIATES) if c not in data]
        if missing:
            raise ValueError(f"choice table: missing column(s) {missing}; expected the columns of sim_data.schema.CHOICE")
        return data
    raise TypeError(f"data: expected a ChoiceLog or a choice-table DataFrame, found {type(data).__name__}")


def time_as_int(values: pd.Series) -> np.ndarray:
    """The ``time`` column as int64 (datetimes as nanoseconds since the epoch)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("datetime64[ns, UTC]" if getattr(values.dt, "tz", None) else "datetime64[ns]") \
            .astype("int64").to_numpy()
    return values.to_numpy(dtype=np.int64)


def choice_arrays(data: ChoiceLog | pd.DataFrame, products: list[str] | None = None) -> ChoiceArrays:
    """Pivot a long choice table into padded arrays (see :class:`ChoiceArrays`).

    :param data: a :class:`~sim_data.logs.ChoiceLog` or a frame with the choice columns.
    :param products: the product order; products of the table not in it raise a ``ValueError``.
    """
    t = _table(data)
    if len(t) == 0:
        raise ValueError("choice table: expected at least one row, found none")
    names = sorted(t["product"].astype(str).unique().tolist()) if products is None else list(products)
    prod = pd.Categorical(t["product"].astype(str), categories=names)
    if (prod.codes < 0).any():
        unknown = sorted(set(t["product"].astype(str)[prod.codes < 0]))
        raise ValueError(f"column 'product': found {unknown}, which the model was not fitted on (it knows {names})")
    occ_frame = (t[["occasion_id", "time", "shopper_id"]].drop_duplicates("occasion_id")
                 .assign(_t=lambda f: time_as_int(f["time"])).sort_values(["_t", "occasion_id"], kind="stable"))
    occ_ids = occ_frame["occasion_id"].to_numpy(dtype=np.int64)
    row = pd.Index(occ_ids).get_indexer(t["occasion_id"].to_numpy())
    n, j = occ_ids.size, len(names)
    avail = np.zeros((n, j), dtype=bool)
    avail[row, prod.codes] = True
    x = np.zeros((n, j, len(COVARIATES)))
    for k, name in enumerate(COVARIATES):
        x[row, prod.codes, k] = t[name].to_numpy(dtype=np.float64)
    y = np.full(n, -1, dtype=np.int64)
    chosen = t["chosen"].to_numpy() == 1
    y[row[chosen]] = prod.codes[chosen]
    shopper_codes, shoppers = pd.factorize(occ_frame["shopper_id"].astype(str))
    return ChoiceArrays(products=names, occasion_id=occ_ids, shopper=shopper_codes.astype(np.int64),
                        shoppers=list(shoppers), time=occ_frame["_t"].to_numpy(dtype=np.int64), avail=avail, x=x, y=y)


def split_by_time(data: ChoiceLog, test_share: float = 0.2) -> tuple[ChoiceLog, ChoiceLog]:
    """The first ``1 - test_share`` of occasions (ordered by time, then occasion id) and the last ``test_share``.

    :param data: the choice log.
    :param test_share: share of occasions held out, in (0, 1).
    :return: ``(train, test)`` logs sharing the provenance.
    """
    if not 0.0 < float(test_share) < 1.0:
        raise ValueError(f"test_share: expected a number in (0, 1), found {test_share!r}")
    t = _table(data)
    occ = (t[["occasion_id", "time"]].drop_duplicates("occasion_id").assign(_t=lambda f: time_as_int(f["time"]))
           .sort_values(["_t", "occasion_id"], kind="stable")["occasion_id"].to_numpy())
    n_test = int(round(test_share * occ.size))
    if n_test < 1 or n_test >= occ.size:
        raise ValueError(f"test_share={test_share} leaves no train or no test occasions out of {occ.size}")
    test_ids = set(occ[occ.size - n_test:].tolist())
    is_test = t["occasion_id"].isin(test_ids).to_numpy()
    provenance = data.provenance if isinstance(data, ChoiceLog) else None
    make = (lambda f: ChoiceLog(table=f.reset_index(drop=True), provenance=provenance)) if provenance is not None \
        else (lambda f: ChoiceLog(table=f.reset_index(drop=True)))
    return make(t[~is_test]), make(t[is_test])
