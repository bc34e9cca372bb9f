"""The Open Bandit Dataset experiment: each logging policy evaluated from the other's logs.

The ground truth of OPE on OBD is the on-policy CTR of the *other* log: the Bernoulli-TS policy evaluated on the
uniform-random logs is compared with the mean click of the BTS logs, and the reverse.

The BTS policy's action distribution is **recomputed from obp's shipped BTS prior** (``prior_bts.yaml``, via
:func:`sim_data.sources.obd.load_bts_prior`) by Monte Carlo, as obp's ``BernoulliTS.compute_batch_action_dist``
does: draw ``theta_a ~ Beta(alpha_a, beta_a)`` for every item, show the items with the 3 largest draws in slots
0, 1, 2 (no repeats), and count how often each item lands in each slot. The random policy's distribution is
uniform, ``1 / n_items`` for every item and slot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from policies.ope.run import PolicyEvaluation, evaluate_log

CHUNK = 20_000


def bts_action_dist(alpha: np.ndarray, beta: np.ndarray, n_positions: int = 3, n_samples: int = 100_000,
                    seed: int = 0) -> np.ndarray:
    """Slot-wise action distribution of Bernoulli Thompson sampling with a Beta prior, by Monte Carlo.

    :param alpha: ``(n_actions,)`` positive Beta parameters.
    :param beta: ``(n_actions,)`` positive Beta parameters.
    :param n_positions: slots filled by the top-ranked draws.
    :param n_samples: Monte Carlo draws.
    :param seed: seed of the numpy Generator.
    :return: ``(n_actions, n_positions)``; each column sums to 1.
    """
    a, b = np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or not ((a > 0).all() and (b > 0).all()):
        raise ValueError(f"alpha, beta: expected positive arrays of one shape (n_actions,), got {a.shape}, {b.shape}")
    if not 1 <= n_positions <= a.size:
        raise ValueError(f"n_positions: expected 1..{a.size}, got {n_positions}")
    rng = np.random.default_rng(seed)
    counts = np.zeros((a.size, n_positions))
    for start in range(0, n_samples, CHUNK):
        m = min(CHUNK, n_samples - start)
        theta = rng.beta(a, b, size=(m, a.size))
        top = np.argsort(-theta, axis=1)[:, :n_positions]
        for k in range(n_positions):
            counts[:, k] += np.bincount(top[:, k], minlength=a.size)
    return counts / n_samples


def obd_experiment(campaign: str, *, estimators: str = "dm,ipw,snipw,dr,sndr,switch-dr,dr-os",
                   n_resamples: int = 200, seed: int = 0, n_samples: int = 100_000,
                   path: str | None = None) -> list[dict[str, Any]]:
    """Both directions on one campaign; one record per (direction, estimator).

    :param campaign: ``all``, ``men`` or ``women``.
    :param path: the full dataset's directory, or ``None`` for the 10k-row sample.
    :return: records with ``campaign``, ``evaluated``, ``logs``, ``estimator``, ``estimate``, ``ci``,
        ``truth`` (the other log's CTR), ``relative_error`` and ``covers`` (the interval contains the truth).
    """
    from sim_data.sources.obd import load_bts_prior, load_obd

    logs = {p: load_obd(p, campaign, path) for p in ("random", "bts")}
    n_actions, n_positions = logs["random"].n_actions, logs["random"].n_positions
    alpha, beta = load_bts_prior(campaign)
    dists = {"bts": bts_action_dist(alpha, beta, n_positions, n_samples, seed),
             "random": np.full((n_actions, n_positions), 1.0 / n_actions)}
    out = []
    for evaluated, logged in (("bts", "random"), ("random", "bts")):
        ev: PolicyEvaluation = evaluate_log(logs[logged], dists[evaluated], name=evaluated, estimators=estimators,
                                            n_resamples=n_resamples, seed=seed)
        truth = float(logs[evaluated].rewards.mean())
        for r in ev.results:
            out.append({"campaign": campaign, "evaluated": evaluated, "logs": logged, "estimator": r.label,
                        "estimate": r.estimate, "ci": list(r.ci), "lower_bound": r.lower_bound, "truth": truth,
                        "relative_error": abs(r.estimate - truth) / truth, "covers": r.ci[0] <= truth <= r.ci[1],
                        "ess": r.diagnostics["ess"], "max_weight": r.diagnostics["max_weight"]})
    return out
