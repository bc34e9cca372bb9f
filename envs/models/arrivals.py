"""Shopper arrivals per period: a Poisson or negative-binomial (NB2) count regression with calendar effects.

Counts: bandit logs count logged decisions (rows) per hour of ``timestamp``; choice logs count occasions per
``time`` value (an integer period such as a week, or per hour when ``time`` holds timestamps). Periods with no
arrivals between the first and the last are included as zeros.

Calendar effects, added only when the data has them:

* hourly data: hour-of-day dummies (when at least two days are covered) and day-of-week dummies (when at
  least two weeks are covered);
* integer periods: a yearly Fourier pair ``sin/cos(2 pi t / period_length)`` when at least two seasons
  (``2 * season_length`` periods) are covered.

``family="auto"`` fits the Poisson model and switches to NB2 when the Pearson dispersion exceeds 1.5.
:meth:`ArrivalModel.evaluate` scores held-out periods against a constant-rate Poisson baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from envs.models.base import BehaviourModel
from sim_data.logs import BanditLog, ChoiceLog


def _hours(values: pd.Series) -> np.ndarray:
    """Whole hours since 1970-01-01 UTC of a datetime column (any resolution, naive read as UTC)."""
    ts = pd.to_datetime(values)
    if ts.dt.tz is None:
        ts = ts.dt.tz_localize("UTC")
    return ((ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(hours=1)).to_numpy(dtype=np.int64)
DISPERSION_SWITCH = 1.5


def _counts(data: BanditLog | ChoiceLog) -> tuple[np.ndarray, np.ndarray, str]:
    """``(period index, counts, unit)`` with zero periods filled in."""
    if isinstance(data, BanditLog):
        idx = _hours(data.table["timestamp"])
        unit = "hour"
    elif isinstance(data, ChoiceLog):
        occ = data.table.drop_duplicates("occasion_id")["time"]
        if pd.api.types.is_datetime64_any_dtype(occ):
            idx, unit = _hours(occ), "hour"
        else:
            idx, unit = occ.to_numpy(dtype=np.int64), "period"
    else:
        raise TypeError(f"data: expected a BanditLog or a ChoiceLog, found {type(data).__name__}")
    if idx.size == 0:
        raise ValueError("data: expected at least one row, found none")
    periods = np.arange(idx.min(), idx.max() + 1)
    counts = np.bincount(idx - idx.min(), minlength=periods.size).astype(float)
    return periods, counts, unit


class ArrivalModel(BehaviourModel):
    """Arrivals per period (see the module docstring).

    :param family: ``"auto"``, ``"poisson"`` or ``"negbin"``.
    :param season_length: periods per season for integer periods (52 for weeks).
    """

    kind = "arrivals"

    def __init__(self, family: str = "auto", season_length: int = 52):
        if family not in ("auto", "poisson", "negbin"):
            raise ValueError(f"family: expected 'auto', 'poisson' or 'negbin', found {family!r}")
        if int(season_length) < 2:
            raise ValueError(f"season_length: expected an integer >= 2, found {season_length!r}")
        self.family = family
        self.season_length = int(season_length)

    def config(self) -> dict:
        return {"family": self.family, "season_length": self.season_length}

    def _features(self, periods: np.ndarray) -> np.ndarray:
        cols = [np.ones(periods.size)]
        if self.effects_.get("hour_of_day"):
            hour = periods % 24
            cols += [(hour == h).astype(float) for h in range(1, 24)]
        if self.effects_.get("day_of_week"):
            dow = (periods // 24 + 3) % 7          # 1970-01-01 was a Thursday: day 0 -> 3 (Mon = 0)
            cols += [(dow == d).astype(float) for d in range(1, 7)]
        if self.effects_.get("season"):
            angle = 2 * np.pi * periods / self.season_length
            cols += [np.sin(angle), np.cos(angle)]
        return np.stack(cols, axis=1)

    def _effect_names(self) -> list[str]:
        names = ["const"]
        if self.effects_.get("hour_of_day"):
            names += [f"hour={h}" for h in range(1, 24)]
        if self.effects_.get("day_of_week"):
            names += [f"weekday={d}" for d in range(1, 7)]
        if self.effects_.get("season"):
            names += ["season_sin", "season_cos"]
        return names

    def fit(self, data: BanditLog | ChoiceLog) -> ArrivalModel:
        """Fit on the arrivals of a log; returns ``self``."""
        import statsmodels.api as sm

        periods, counts, unit = _counts(data)
        self.unit_ = unit
        if unit == "hour":
            self.effects_ = {"hour_of_day": periods.size >= 48, "day_of_week": periods.size >= 24 * 14}
        else:
            self.effects_ = {"season": periods.size >= 2 * self.season_length}
        x = self._features(periods)
        if x.shape[1] >= periods.size:
            raise ValueError(f"{periods.size} periods are too few for {x.shape[1]} arrival-model coefficients")
        pois = sm.Poisson(counts, x).fit(disp=0, maxiter=200)
        mu = pois.predict(x)
        dispersion = float(np.sum((counts - mu) ** 2 / mu) / max(periods.size - x.shape[1], 1))
        family = self.family if self.family != "auto" else ("negbin" if dispersion > DISPERSION_SWITCH else "poisson")
        if family == "negbin":
            nb = sm.NegativeBinomial(counts, x).fit(disp=0, maxiter=500)
            self.coef_ = np.asarray(nb.params[:-1], float)
            self.alpha_ = float(nb.params[-1])
            self.se_ = np.asarray(nb.bse[:-1], float)
            self.loglik_ = float(nb.llf)
        else:
            self.coef_ = np.asarray(pois.params, float)
            self.alpha_ = 0.0
            self.se_ = np.asarray(pois.bse, float)
            self.loglik_ = float(pois.llf)
        self.family_ = family
        self.dispersion_ = dispersion
        self.n_periods_ = int(periods.size)
        self.first_period_, self.last_period_ = int(periods[0]), int(periods[-1])
        self.mean_count_ = float(counts.mean())
        self._fitted = True
        return self

    def rate(self, periods: np.ndarray) -> np.ndarray:
        """Expected arrivals in each period index (hours since the epoch, or the log's integer periods)."""
        self._require_fitted()
        return np.exp(self._features(np.asarray(periods, dtype=np.int64)) @ self.coef_)

    @property
    def mean_rate(self) -> float:
        """Average expected arrivals per period over the fitted span."""
        return float(self.rate(np.arange(self.first_period_, self.last_period_ + 1)).mean())

    def _loglik(self, counts: np.ndarray, mu: np.ndarray, alpha: float) -> np.ndarray:
        if alpha <= 0:
            return counts * np.log(mu) - mu - special.gammaln(counts + 1)
        r = 1.0 / alpha
        return (special.gammaln(counts + r) - special.gammaln(r) - special.gammaln(counts + 1)
                + r * np.log(r / (r + mu)) + counts * np.log(mu / (r + mu)))

    def evaluate(self, data: BanditLog | ChoiceLog) -> dict:
        """Held-out log-likelihood per period against a constant-rate Poisson at the training mean."""
        self._require_fitted()
        periods, counts, unit = _counts(data)
        if unit != self.unit_:
            raise ValueError(f"data counts arrivals per {unit}, the model per {self.unit_}")
        mu = self.rate(periods)
        ll = float(self._loglik(counts, mu, self.alpha_).sum())
        ll_b = float(self._loglik(counts, np.full_like(mu, self.mean_count_), 0.0).sum())
        return {"periods": int(periods.size), "loglik_per_period": ll / periods.size,
                "baseline_loglik_per_period": ll_b / periods.size, "beats_baseline": bool(ll > ll_b),
                "observed_mean": float(counts.mean()), "predicted_mean": float(mu.mean())}

    def report(self) -> dict:
        self._require_fitted()
        return {"model": f"{'negative binomial (NB2)' if self.family_ == 'negbin' else 'Poisson'} counts per {self.unit_}",
                "effects": self.effects_, "periods": self.n_periods_, "mean_count": self.mean_count_,
                "mean_rate": self.mean_rate, "dispersion": self.dispersion_, "alpha": self.alpha_,
                "loglik": self.loglik_,
                "coefficients": {n: {"estimate": float(c), "se": float(s)}
                                 for n, c, s in zip(self._effect_names(), self.coef_, self.se_, strict=True)}}

    def to_params(self) -> dict:
        """``{"arrival_rate": mean expected arrivals per period, "unit": ...}`` (feeds ``DemandParams.arrival_rate``)."""
        self._require_fitted()
        return {"arrival_rate": self.mean_rate, "unit": self.unit_}

    def _state(self) -> dict:
        return {"unit": self.unit_, "effects": self.effects_, "coef": self.coef_, "alpha": self.alpha_, "se": self.se_,
                "loglik": self.loglik_, "family": self.family_, "dispersion": self.dispersion_,
                "n_periods": self.n_periods_, "first_period": self.first_period_, "last_period": self.last_period_,
                "mean_count": self.mean_count_}

    def _restore(self, s: dict) -> None:
        self.unit_, self.effects_ = s["unit"], dict(s["effects"])
        self.coef_, self.se_ = np.asarray(s["coef"], float), np.asarray(s["se"], float)
        self.alpha_, self.loglik_, self.family_ = float(s["alpha"]), float(s["loglik"]), s["family"]
        self.dispersion_, self.n_periods_ = float(s["dispersion"]), int(s["n_periods"])
        self.first_period_, self.last_period_ = int(s["first_period"]), int(s["last_period"])
        self.mean_count_ = float(s["mean_count"])
