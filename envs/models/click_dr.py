"""The doubly robust click-model loss as a soft-label likelihood over pseudo-rows.

The click model should fit well where a *uniform* policy would show items, whatever the logger favoured. Its
target loss, for the logged contexts ``x_i`` and slots ``k_i``, is ``sum_i (1/A) sum_a l(q(x_i, a, k_i); f_ia)``
with ``q`` the true click probability, ``f_ia`` the model's and ``l(z; p) = -z log p - (1 - z) log(1 - p)``
(linear in ``z``). The doubly robust estimate replaces the unknown ``q`` by an imputed ``g`` (an outcome model)
corrected on the logged item by the importance-weighted residual::

    z_ia = g_ia + 1[a = a_i] * (y_i - g_ia) / pi_i  =  g_ia + 1[a = a_i] * A * rho_i * (y_i - g_ia)
    loss = sum_i sum_a (1/A) l(z_ia; f_ia)

with ``rho_i = (1/A) / pi_i`` the importance ratio of the uniform policy over the logger. Its expectation is the
target loss if either the propensities or ``g`` are right (Dudik, Langford & Li 2011; for learning,
Wang et al. 2019, "Doubly robust joint learning for recommendation on data missing not at random"). Labels
may leave ``[0, 1]``; the penalty keeps the fit bounded. Each logged row becomes ``A`` pseudo-rows of weight
``1/A``, so the total weight stays ``n``.
"""

from __future__ import annotations

import numpy as np


def dr_pseudo_rows(imputed: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                   rho: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pseudo-rows of the doubly robust loss.

    :param imputed: ``g_ia``, the outcome model's click probability of every item at row ``i``'s context and
        slot, shape ``(n, A)``.
    :param actions: logged items ``a_i``, ``(n,)``.
    :param rewards: logged clicks ``y_i``, ``(n,)``.
    :param rho: importance ratios ``(1/A) / pi_i`` (possibly normalised and clipped), ``(n,)``.
    :return: ``(row, item, label, weight)``, each shape ``(n * A,)``: pseudo-row ``(i, a)`` is row-major.
    """
    g = np.asarray(imputed, dtype=np.float64)
    n, a = g.shape
    if actions.shape != (n,) or rewards.shape != (n,) or rho.shape != (n,):
        raise ValueError(f"actions, rewards, rho: expected shape ({n},), found {actions.shape}, {rewards.shape}, "
                         f"{rho.shape}")
    labels = g.copy()
    rows = np.arange(n)
    labels[rows, actions] += a * rho * (rewards - g[rows, actions])
    return (np.repeat(rows, a), np.tile(np.arange(a), n), labels.ravel(), np.full(n * a, 1.0 / a))
