"""A Vowpal Wabbit contextual-bandit learner (``--cb_explore_adf``), exported behind the deployable policy interface.

:class:`VWContextualBandit` wraps one ``vowpalwabbit.Workspace`` running ``--cb_explore_adf`` with one of VW's
exploration algorithms (:data:`EXPLORATION_PRESETS`: epsilon-greedy, softmax, bagging, online cover, SquareCB,
or any raw VW flags). It learns online (:meth:`~VWContextualBandit.predict` / :meth:`~VWContextualBandit.act` /
:meth:`~VWContextualBandit.learn`) or offline from logged bandit feedback (:meth:`~VWContextualBandit.fit_log`,
IPS-style cb labels ``action:cost:propensity`` with ``cost = -reward``), and is a :class:`policies.policy.Policy`
(``action_dist`` for a batch of contexts, ``save`` / ``Policy.load`` of an artefact holding the VW model).

Safety rails:

* **Every probability vector VW returns is validated** (:func:`validate_pmf`: one entry per action, finite,
  non-negative, summing to 1 within 1e-6) before it is used or logged, and the sampled action's probability is
  checked to be positive. A failing vector raises :class:`InvalidPmfError`.
* **Exploration settings that fail this are refused at construction**: flags known to return invalid vectors
  (:data:`REFUSED_FLAGS`, e.g. ``--regcbopt``, which returns ``[1, 1, ..., 1]``) are refused by name, and every
  new workspace must pass a probe prediction.
* **One VW workspace per process**: VW keeps process-wide state and a second live workspace is a common source of
  crashes and confusion, so constructing (or loading) a second one while another is open raises ``RuntimeError``;
  call :meth:`~VWContextualBandit.close` (or use ``with``) first.

The serving half (prediction, pmf validation, online ``learn``, ``save``) is :class:`policies.vw_policy.VWPolicy`,
which this learner extends; a saved learner loads back (``Policy.load``) as a ``VWPolicy``, without this package.

Artefact layout (``save``): ``policy.json`` (the manifest: exploration flags, VW arguments, feature names, seed)
and ``vw_model.npy``, the VW model file's bytes as a ``uint8`` array (so the base class's sha256 check covers it;
``np.load(path).tobytes()`` is the file ``vw -i`` reads), plus ``action_lines.npy``, the cached per-action feature
lines (item features included), so a loaded policy formats examples exactly as the trained one did.
"""

from __future__ import annotations

import gc
import shlex
import weakref

import numpy as np
import pandas as pd

from policies.vw_policy import (
    PMF_TOLERANCE,
    InvalidPmfError,
    VWPolicy,
    sample_from_pmf,
    validate_pmf,
)
from policies.vw_text import ADFFormatter, default_interactions
from sim_data.logs import BanditLog

__all__ = ["EXPLORATION_PRESETS", "PMF_TOLERANCE", "REFUSED_FLAGS", "InvalidPmfError", "VWContextualBandit",
           "exploration_flags", "sample_from_pmf", "validate_pmf"]

EXPLORATION_PRESETS: dict[str, str] = {
    "epsilon": "--epsilon 0.05",
    "softmax": "--softmax --lambda 10",
    "bag": "--bag 5 --epsilon 0.05",
    "cover": "--cover 3 --psi 0.1 --epsilon 0.05",  # VW's default psi=1 keeps 1/3 of the mass off the best action
    "squarecb": "--squarecb --gamma_scale 10",
}
"""Named exploration settings; ``exploration`` may also be raw VW flags (``"--epsilon 0.2"``)."""

REFUSED_FLAGS: dict[str, str] = {
    "--regcbopt": "VW's regcbopt returns probability vectors that are not distributions (e.g. [1, 1, 1]); "
                  "use 'squarecb' (its successor) or 'regcb' instead",
}
"""VW flags refused by name, with the reason and what to use instead."""

_MANAGED_FLAGS = ("-i", "--initial_regressor", "-f", "--final_regressor", "-d", "--data", "--cb_explore_adf",
                  "--cb_adf", "--random_seed", "-q", "--quadratic", "--interactions", "--quiet", "-p", "--predictions")

_live_workspace: weakref.ref | None = None


def exploration_flags(exploration: str) -> str:
    """The VW flags for a preset name or raw flags; raises ``ValueError`` for a refused or managed flag."""
    if not isinstance(exploration, str) or not exploration.strip():
        raise ValueError(f"exploration: expected one of {sorted(EXPLORATION_PRESETS)} or VW flags, got {exploration!r}")
    flags = EXPLORATION_PRESETS.get(exploration.strip(), exploration.strip())
    if not flags.startswith("-"):
        raise ValueError(f"exploration: {exploration!r} is neither a preset {sorted(EXPLORATION_PRESETS)} "
                         "nor VW flags (e.g. '--epsilon 0.1')")
    return flags


def _check_flags(name: str, flags: str) -> list[str]:
    tokens = shlex.split(flags)
    for token in tokens:
        key = token.split("=", 1)[0]
        if key in REFUSED_FLAGS:
            raise ValueError(f"{name}: {key} is refused: {REFUSED_FLAGS[key]}")
        if key in _MANAGED_FLAGS:
            raise ValueError(f"{name}: {key} is set by VWContextualBandit itself (model files, seed, "
                             "interactions); use its arguments instead")
    return tokens


def _claim_workspace_slot(owner: VWContextualBandit) -> None:
    global _live_workspace
    for attempt in range(2):
        live = _live_workspace() if _live_workspace is not None else None
        if live is None or live._vw is None:
            _live_workspace = weakref.ref(owner)
            return
        if attempt == 0:
            gc.collect()  # an unreachable learner in a reference cycle does not count
    raise RuntimeError("a Vowpal Wabbit workspace is already open in this process (one VW workspace per "
                       "process); call .close() on the other VWContextualBandit (or use it in a `with` block) "
                       "before creating or loading another")


class VWContextualBandit(VWPolicy):
    """A ``--cb_explore_adf`` learner over ``n_actions`` actions, and the policy it defines.

    Contexts are rows of ``n_features`` features (numbers, or strings that become one-hot features); each action
    has an id feature and optionally item features; the slot is a feature when ``n_positions > 1``. The model
    crosses context x action namespaces (see :mod:`policies.vw_text`). Prediction, validation, ``learn`` and
    ``save`` come from :class:`policies.vw_policy.VWPolicy`.

    :param n_actions: size of the action space.
    :param n_features: context features per round.
    :param n_positions: number of slots (the policy gives a distribution per slot).
    :param exploration: a preset name from :data:`EXPLORATION_PRESETS` or raw VW exploration flags.
    :param action_features: optional item features, one row per action (array or DataFrame).
    :param feature_names: the DataFrame columns contexts are read from (default: the ``context_*`` columns).
    :param interactions: VW namespace crosses (default :func:`policies.vw_text.default_interactions`).
    :param vw_args: further VW flags (e.g. ``"--cb_type mtr -l 0.5"``); file, seed and interaction flags are
        managed here and refused.
    :param seed: VW's ``--random_seed`` (bagging, cover); sampling of actions uses the caller's numpy Generator.
    """

    def __init__(self, n_actions: int, n_features: int, *, n_positions: int = 1, exploration: str = "epsilon",
                 action_features: np.ndarray | pd.DataFrame | None = None, feature_names: list[str] | None = None,
                 interactions: list[str] | None = None, vw_args: str = "", seed: int = 0,
                 _model_bytes: bytes | None = None, _action_lines: list[str] | None = None):
        flags = exploration_flags(exploration)
        _check_flags("exploration", flags)
        _check_flags("vw_args", vw_args)
        super().__init__(n_actions, n_features, n_positions=n_positions, action_lines=_action_lines,
                         feature_names=feature_names, seed=seed, exploration=exploration, vw_args=vw_args)
        self.flags = flags
        if _action_lines is None:
            self.formatter = ADFFormatter(self.n_actions, self.n_positions, action_features)
        if interactions is None:
            interactions = default_interactions(self.formatter.has_action_features, self.n_positions)
        bad = [i for i in interactions if not (isinstance(i, str) and len(i) >= 2 and i.isalpha())]
        if bad:
            raise ValueError(f"interactions: expected namespace crosses such as 'sa', got {bad}")
        self.interactions = list(interactions)
        self._vw = self._open_workspace(_model_bytes)

    # ------------------------------------------------------------------------------------------ workspace

    def _workspace_args(self, model_bytes: bytes | None) -> str:
        crosses = " ".join(f"--interactions {i}" for i in self.interactions)
        return f"--cb_explore_adf {self.flags} {crosses} {self.vw_args} --quiet --random_seed {self.seed}"

    def _open_workspace(self, model_bytes: bytes | None):
        _claim_workspace_slot(self)
        try:
            return super()._open_workspace(model_bytes)
        except ValueError as exc:
            raise ValueError(f"exploration {self.flags!r}: {exc}") from None

    def __enter__(self) -> VWContextualBandit:
        return self

    # ------------------------------------------------------------------------------------------ offline

    def fit_log(self, log: BanditLog, passes: int = 1) -> VWContextualBandit:
        """Train on logged bandit feedback, row by row in log order (``passes`` times).

        Contexts come from the log's ``context_*`` columns (or ``feature_names``), the slot from ``position``,
        labels from ``action``, ``reward`` and the logged ``propensity`` (IPS-style cb labels). Item features come
        from ``log.action_context`` only if the learner was built with them (see :meth:`from_log`).

        :raises ValueError: when the log's propensities are unknown, or its shape disagrees with the learner.
        """
        if not log.propensity_known:
            raise ValueError("log: the propensity column is unknown (NaN); IPS-style cb labels need the logging "
                             "policy's probabilities (estimate them first)")
        if log.n_actions != self.n_actions or log.n_positions > self.n_positions:
            raise ValueError(f"log: n_actions={log.n_actions}, n_positions={log.n_positions} disagree with this "
                             f"learner's n_actions={self.n_actions}, n_positions={self.n_positions}")
        if isinstance(passes, bool) or int(passes) != passes or passes < 1:
            raise ValueError(f"passes: expected a whole number >= 1, got {passes!r}")
        columns = self.feature_names or log.context_columns
        shared = self.formatter.shared_lines(self._context_table(log.table[columns], "log"), log.positions)
        actions, rewards, props = log.actions, log.rewards, log.propensities
        vw = self.workspace
        for _ in range(int(passes)):
            for i, line in enumerate(shared):
                vw.learn(self.formatter.labelled(line, None, int(actions[i]), -float(rewards[i]), float(props[i])))
        return self

    @classmethod
    def from_log(cls, log: BanditLog, exploration: str = "epsilon", *, use_action_context: bool = True,
                 passes: int = 1, **kwargs) -> VWContextualBandit:
        """Build a learner shaped like ``log`` (its context columns, actions, slots, item features) and fit it.

        :param log: logged bandit feedback with known propensities.
        :param exploration: as for the constructor.
        :param use_action_context: use ``log.action_context`` as item features when present.
        :param passes: passes over the log.
        :param kwargs: further constructor arguments (``vw_args``, ``seed``, ``interactions``).
        """
        columns = log.context_columns
        items = log.action_context.sort_index() if (use_action_context and log.action_context is not None) else None
        learner = cls(log.n_actions, len(columns), n_positions=log.n_positions, exploration=exploration,
                      action_features=items, feature_names=columns, **kwargs)
        try:
            return learner.fit_log(log, passes)
        except Exception:
            learner.close()
            raise
