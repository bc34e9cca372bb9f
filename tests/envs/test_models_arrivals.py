"""Arrival counts: Poisson/NB choice, calendar effects, held-out scoring, persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from envs.models import ArrivalModel
from sim_data.logs import BanditLog


def _hourly_log(rates_by_hour: np.ndarray, days: int, seed: int, overdispersed: bool = False) -> BanditLog:
    rng = np.random.default_rng(seed)
    stamps = []
    start = pd.Timestamp("2024-01-01", tz="UTC")
    for d in range(days):
        for h in range(24):
            lam = rates_by_hour[h] * (rng.gamma(2.0, 0.5) if overdispersed else 1.0)
            n = rng.poisson(lam)
            offsets = rng.uniform(0, 3600, n)
            stamps += [start + pd.Timedelta(days=d, hours=h, seconds=float(o)) for o in np.sort(offsets)]
    n = len(stamps)
    table = pd.DataFrame({"event_id": [f"e{i}" for i in range(n)], "timestamp": pd.DatetimeIndex(stamps),
                          "action": np.zeros(n, np.int64), "position": np.zeros(n, np.int64),
                          "propensity": np.ones(n), "reward": np.zeros(n)})
    return BanditLog.from_frame(table, n_actions=1, n_positions=1)


def test_hour_of_day_rates_recovered():
    rates = 5 + 4 * np.sin(np.arange(24) / 24 * 2 * np.pi)
    log = _hourly_log(rates, days=10, seed=0)
    model = ArrivalModel().fit(log)
    assert model.family_ == "poisson" and model.effects_["hour_of_day"]
    hours = (pd.Timestamp("2024-02-01", tz="UTC") - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(hours=1)
    fitted = model.rate(np.arange(hours, hours + 24))
    assert np.all(np.abs(fitted - rates) < 4 * np.sqrt(rates / 10))      # 4 standard errors of a 10-day mean
    assert np.corrcoef(fitted, rates)[0, 1] > 0.9


def test_overdispersion_switches_to_negative_binomial_and_round_trip(tmp_path):
    log = _hourly_log(np.full(24, 8.0), days=6, seed=1, overdispersed=True)
    model = ArrivalModel().fit(log)
    assert model.family_ == "negbin" and model.alpha_ > 0
    loaded = ArrivalModel.load(model.save(tmp_path))
    assert loaded.evaluate(log) == model.evaluate(log)


def test_heldout_beats_constant_with_daily_cycle():
    rates = np.where(np.arange(24) < 8, 1.0, 12.0)
    model = ArrivalModel().fit(_hourly_log(rates, days=8, seed=2))
    ev = model.evaluate(_hourly_log(rates, days=2, seed=3))
    assert ev["beats_baseline"]


def test_bad_family():
    with pytest.raises(ValueError, match="family"):
        ArrivalModel(family="gamma")
