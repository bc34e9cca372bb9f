"""The serving form of a Vowpal Wabbit contextual-bandit policy: a saved VW model plus its cached action lines.

:class:`VWPolicy` is what :meth:`policies.policy.Policy.load` rebuilds from an artefact saved by the learner in
``agents.vw_bandit`` (or by the online learner of the decision API), without importing ``agents``. It predicts
VW's exploration distribution (``--cb_explore_adf``), validates every probability vector (:func:`validate_pmf`)
and can keep learning (the model is saved with ``--save_resume`` state).

Thread safety: a VW workspace is not thread-safe, and VW keeps process-wide state. Every call into VW made by
this module (open, predict, learn, save, finish) holds one process-wide lock (:data:`VW_LOCK`), so threads may
share policies; processes each load their own workspaces.

Artefact layout (``save``): ``policy.json`` (manifest: class ``policies.vw_policy.VWPolicy``, the number of
context features, feature names, the learner's settings for the record) plus ``vw_model.npy`` (the VW model
file's bytes as ``uint8``) and ``action_lines.npy`` (the cached per-action ADF lines, item features included).
"""

from __future__ import annotations

import os
import shlex
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from policies.policy import Policy
from policies.vw_text import ADFFormatter, action_line, feature_table, shared_line

PMF_TOLERANCE = 1e-6
VW_LOCK = threading.RLock()
"""Held around every call into VW made by :class:`VWPolicy` (VW is not thread-safe)."""


class InvalidPmfError(ValueError):
    """A probability vector from VW that is not a distribution over the actions."""


def validate_pmf(pmf: Any, n_actions: int, chosen: int | None = None) -> np.ndarray:
    """Check one probability vector from VW and return it as float64, renormalised to sum to exactly 1.

    :param pmf: the vector, one entry per action offered.
    :param n_actions: the number of actions offered (the vector's expected length).
    :param chosen: optionally the index of the sampled action, whose probability must be positive.
    :raises InvalidPmfError: naming what is wrong (length, NaN/inf, negative entries, sum, chosen action).
    """
    p = np.asarray(pmf, dtype=np.float64).reshape(-1)
    if p.size != n_actions:
        raise InvalidPmfError(f"pmf: expected {n_actions} probabilities (one per action), got {p.size}")
    if not np.isfinite(p).all():
        raise InvalidPmfError(f"pmf: expected finite probabilities, got {p.tolist()}")
    if (p < 0).any():
        raise InvalidPmfError(f"pmf: expected non-negative probabilities, got {p.tolist()}")
    total = float(p.sum())
    if abs(total - 1.0) > PMF_TOLERANCE:
        raise InvalidPmfError(f"pmf: expected probabilities summing to 1 within {PMF_TOLERANCE:g}, "
                              f"got sum {total:.9g} for {p.tolist()}")
    if chosen is not None and not (0 <= chosen < n_actions and p[chosen] > 0):
        raise InvalidPmfError(f"pmf: the sampled action {chosen} has probability "
                              f"{p[chosen] if 0 <= chosen < n_actions else 'undefined'}; expected > 0")
    return p / total


def sample_from_pmf(pmf: np.ndarray, rng: np.random.Generator) -> int:
    """Draw an index from a validated pmf by inverse CDF (an index of probability 0 is never drawn)."""
    cdf = np.cumsum(pmf)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), pmf.size - 1))


class VWPolicy(Policy):
    """A trained ``--cb_explore_adf`` model over ``n_actions`` actions, served (and updatable) as a policy.

    Build it with :meth:`Policy.load` on a saved artefact, or from a model's bytes.

    :param n_actions: size of the action space.
    :param n_features: context features per round.
    :param n_positions: number of slots (the slot is a ``p<k>`` feature when > 1).
    :param model_bytes: the VW model file (``vw -i`` reads it).
    :param action_lines: the cached ADF line of each action id, ``(n_actions,)``.
    :param feature_names: the DataFrame columns contexts are read from (default: the ``context_*`` columns).
    :param seed: VW's ``--random_seed``.
    :param exploration: the learner's exploration setting (kept for the record).
    :param vw_args: the learner's further VW flags (kept for the record).
    :param interactions: the learner's namespace crosses (kept for the record; the model file holds them).
    """

    def __init__(self, n_actions: int, n_features: int, *, n_positions: int = 1, model_bytes: bytes | None = None,
                 action_lines: Sequence[str] | None = None, feature_names: list[str] | None = None, seed: int = 0,
                 exploration: str | None = None, vw_args: str = "", interactions: list[str] | None = None):
        super().__init__(n_actions, n_positions)
        if isinstance(n_features, bool) or int(n_features) != n_features or n_features < 0:
            raise ValueError(f"n_features: expected a whole number >= 0, got {n_features!r}")
        if isinstance(seed, bool) or int(seed) != seed or seed < 0:
            raise ValueError(f"seed: expected a whole number >= 0, got {seed!r}")
        if feature_names is not None and len(feature_names) != n_features:
            raise ValueError(f"feature_names: {len(feature_names)} names for n_features={n_features}")
        self.n_features = int(n_features)
        self.seed = int(seed)
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.exploration = exploration
        self.vw_args = vw_args
        self.interactions = list(interactions) if interactions is not None else None
        self._vw = None
        self._extra_lines: dict[tuple, str] = {}
        if action_lines is not None:
            if len(action_lines) != self.n_actions:
                raise ValueError(f"action_lines: expected {self.n_actions} lines, got {len(action_lines)}")
            self.formatter = ADFFormatter.from_action_lines(list(action_lines), self.n_positions)
        else:
            self.formatter = ADFFormatter(self.n_actions, self.n_positions)
        if model_bytes is not None:
            self._vw = self._open_workspace(model_bytes)

    # ------------------------------------------------------------------------------------------ workspace

    def _workspace_args(self, model_bytes: bytes | None) -> str:
        """The VW command line of a workspace loaded from a model file (subclasses build fresh ones)."""
        raise ValueError("VWPolicy: expected model_bytes (a saved VW model); train one with agents.vw_bandit")

    def _open_workspace(self, model_bytes: bytes | None):
        import vowpalwabbit

        with VW_LOCK:
            if model_bytes is None:
                workspace = vowpalwabbit.Workspace(self._workspace_args(None))
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "model.vw"
                    path.write_bytes(bytes(model_bytes))
                    workspace = vowpalwabbit.Workspace(f"--quiet --random_seed {self.seed} "
                                                       f"-i {shlex.quote(str(path))}")
            try:
                probe = self.formatter.example(self.formatter.shared_lines(pd.DataFrame([[0.0]]), 0)[0])
                validate_pmf(workspace.predict(probe), self.n_actions)
            except InvalidPmfError as exc:
                workspace.finish()
                raise ValueError(f"VW returned an invalid probability vector on a probe example ({exc}); "
                                 f"choose another exploration setting") from None
            except Exception:
                workspace.finish()
                raise
        return workspace

    @property
    def workspace(self):
        """The open ``vowpalwabbit.Workspace``; raises ``RuntimeError`` once closed."""
        if self._vw is None:
            raise RuntimeError(f"this {type(self).__name__} is closed; load its saved artefact to use it again")
        return self._vw

    def close(self) -> None:
        """Finish the VW workspace. Safe to call twice."""
        if getattr(self, "_vw", None) is not None:
            with VW_LOCK:
                vw, self._vw = self._vw, None
                vw.finish()

    def __enter__(self) -> VWPolicy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: VW may already be gone
            pass

    # ------------------------------------------------------------------------------------------ contexts

    def _context_table(self, contexts: Any, name: str = "contexts") -> pd.DataFrame:
        if isinstance(contexts, pd.DataFrame):
            columns = self.feature_names
            if columns is None:
                columns = [c for c in contexts.columns if str(c).startswith("context_")] or list(contexts.columns)
            table = feature_table(contexts, name, columns)
        else:
            table = feature_table(contexts, name)
        if table.shape[1] != self.n_features:
            raise ValueError(f"{name}: expected {self.n_features} features per round, got {table.shape[1]}")
        return table

    def _one_context(self, context: Any) -> pd.DataFrame:
        if isinstance(context, pd.Series):
            context = pd.DataFrame([context.to_dict()])  # per-column dtypes (a transpose would make all object)
        if isinstance(context, pd.DataFrame):
            table = self._context_table(context, "context")
        else:  # positional features, per-column dtypes inferred from the values
            table = feature_table(pd.DataFrame([np.asarray(context, dtype=object).reshape(-1).tolist()]), "context")
            if table.shape[1] != self.n_features:
                raise ValueError(f"context: expected {self.n_features} features per round, got {table.shape[1]}")
        if len(table) != 1:
            raise ValueError(f"context: expected one round, got {len(table)}")
        return table

    def _actions(self, actions: Any) -> list[int] | None:
        if actions is None:
            return None
        ids = [int(a) for a in np.asarray(actions).reshape(-1)]
        if not ids or len(set(ids)) != len(ids) or min(ids) < 0 or max(ids) >= self.n_actions:
            raise ValueError(f"actions: expected distinct action ids in [0, {self.n_actions - 1}], got {ids}")
        return ids

    def _check_position(self, position: int) -> int:
        if isinstance(position, bool) or int(position) != position or not 0 <= position < self.n_positions:
            raise ValueError(f"position: expected a slot in [0, {self.n_positions - 1}], got {position!r}")
        return int(position)

    # ------------------------------------------------------------------------------------------ online API

    def _predict_lines(self, lines: list[str]) -> np.ndarray:
        with VW_LOCK:
            pmf = self.workspace.predict(lines)
        return validate_pmf(pmf, len(lines) - 1)

    def predict(self, context: Any, actions: Any = None, position: int = 0) -> np.ndarray:
        """The exploration distribution over the offered actions for one context.

        :param context: one round's features, shape ``(n_features,)`` (or a one-row DataFrame / a Series); numbers
            stay numeric features, strings become one-hot features.
        :param actions: the eligible action ids (default: all ``n_actions``).
        :param position: the slot.
        :return: ``(len(actions),)`` validated probabilities summing to 1.
        """
        shared = self.formatter.shared_lines(self._one_context(context), self._check_position(position))[0]
        return self._predict_lines(self.formatter.example(shared, self._actions(actions)))

    def predict_values(self, values: Sequence, actions: Sequence[int] | None = None, position: int = 0,
                       action_features: Sequence[Sequence | None] | None = None) -> np.ndarray:
        """:meth:`predict` for a context given as plain Python values (the serving fast path: no pandas).

        :param values: the context's ``n_features`` numbers or strings.
        :param actions: the eligible action ids (default: all).
        :param position: the slot.
        :param action_features: optionally, per eligible action, item features that replace the cached ones
            (``None`` keeps the cached line); lines built from them are cached.
        :return: ``(len(actions),)`` validated probabilities.
        """
        if len(values) != self.n_features:
            raise ValueError(f"context: expected {self.n_features} features per round, got {len(values)}")
        ids = self._actions(actions) if actions is not None else list(range(self.n_actions))
        shared = shared_line(list(values), self._check_position(position), self.n_positions)
        lines = [shared]
        cached = self.formatter.action_lines
        for i, a in enumerate(ids):
            feats = action_features[i] if action_features is not None else None
            if feats is None:
                lines.append(cached[a])
            else:
                key = (a, *feats)
                line = self._extra_lines.get(key)
                if line is None:
                    line = action_line(a, list(feats))
                    if len(self._extra_lines) < 100_000:
                        self._extra_lines[key] = line
                lines.append(line)
        return self._predict_lines(lines)

    def act(self, context: Any, rng: np.random.Generator, actions: Any = None,
            position: int = 0) -> tuple[int, float]:
        """Sample an action from :meth:`predict` with a seeded Generator.

        :return: ``(action_id, probability)``; the probability (> 0, checked) is what :meth:`learn` and a log need.
        """
        ids = self._actions(actions)
        pmf = self.predict(context, ids, position)
        index = sample_from_pmf(pmf, rng)
        validate_pmf(pmf, pmf.size, chosen=index)
        return (ids[index] if ids is not None else index), float(pmf[index])

    def _check_feedback(self, ids: list[int] | None, chosen: int, reward: float, prob: float) -> int:
        eligible = ids if ids is not None else range(self.n_actions)
        if chosen not in eligible:
            raise ValueError(f"chosen: action {chosen!r} is not one of the eligible actions")
        if not (np.isfinite(reward)):
            raise ValueError(f"reward: expected a finite number, got {reward!r}")
        if not (0 < prob <= 1):
            raise ValueError(f"prob: expected the chosen action's probability in (0, 1], got {prob!r}")
        return ids.index(chosen) if ids is not None else int(chosen)

    def learn(self, context: Any, actions: Any, chosen: int, reward: float, prob: float, position: int = 0) -> None:
        """Learn from one round of bandit feedback (cb label ``chosen:-reward:prob``).

        :param context: the round's features ``(n_features,)``.
        :param actions: the eligible action ids when it was decided (``None`` = all).
        :param chosen: the action id taken (one of ``actions``).
        :param reward: its reward (finite); VW minimises cost = -reward.
        :param prob: the probability with which it was taken, in (0, 1].
        :param position: the slot.
        """
        ids = self._actions(actions)
        index = self._check_feedback(ids, chosen, reward, prob)
        shared = self.formatter.shared_lines(self._one_context(context), self._check_position(position))[0]
        lines = self.formatter.labelled(shared, ids, index, -float(reward), float(prob))
        with VW_LOCK:
            self.workspace.learn(lines)

    def learn_values(self, values: Sequence, actions: Sequence[int] | None, chosen: int, reward: float, prob: float,
                     position: int = 0) -> None:
        """:meth:`learn` for a context given as plain Python values (as the decision log stores it)."""
        if len(values) != self.n_features:
            raise ValueError(f"context: expected {self.n_features} features per round, got {len(values)}")
        ids = self._actions(actions)
        index = self._check_feedback(ids, chosen, reward, prob)
        shared = shared_line(list(values), self._check_position(position), self.n_positions)
        lines = self.formatter.labelled(shared, ids, index, -float(reward), float(prob))
        with VW_LOCK:
            self.workspace.learn(lines)

    # ------------------------------------------------------------------------------------------ Policy

    def action_dist(self, contexts: np.ndarray | pd.DataFrame) -> np.ndarray:
        """VW's exploration distribution for each round and slot, shape ``(n_rounds, n_actions, n_positions)``.

        :param contexts: ``(n_rounds, n_features)`` array or a DataFrame (``feature_names`` / ``context_*`` columns).
        """
        table = self._context_table(contexts)
        out = np.empty((len(table), self.n_actions, self.n_positions))
        for k in range(self.n_positions):
            for i, shared in enumerate(self.formatter.shared_lines(table, k)):
                out[i, :, k] = self._predict_lines(self.formatter.example(shared))
        return out

    def model_bytes(self) -> bytes:
        """The VW model file (``--save_resume`` state: learning can go on after loading)."""
        fd, name = tempfile.mkstemp(suffix=".vw")
        os.close(fd)
        try:
            with VW_LOCK:
                self.workspace.save(name)
            return Path(name).read_bytes()
        finally:
            os.unlink(name)

    def manifest(self) -> dict[str, Any]:
        """The manifest always names :class:`VWPolicy`, so loading never needs the learner's package."""
        out = super().manifest()
        out["class"] = f"{VWPolicy.__module__}.{VWPolicy.__qualname__}"
        return out

    def _params(self) -> dict[str, Any]:
        return {"n_features": self.n_features, "exploration": self.exploration, "vw_args": self.vw_args,
                "seed": self.seed, "feature_names": self.feature_names, "interactions": self.interactions}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"vw_model": np.frombuffer(self.model_bytes(), dtype=np.uint8),
                "action_lines": np.asarray(self.formatter.action_lines, dtype=str)}

    @classmethod
    def _from_saved(cls, n_actions: int, n_positions: int, params: dict[str, Any],
                    arrays: dict[str, np.ndarray]) -> VWPolicy:
        missing = [name for name in ("vw_model", "action_lines") if name not in arrays]
        if missing:
            raise ValueError(f"artefact: {[m + '.npy' for m in missing]} missing (the VW model and its action lines)")
        known = ("n_features", "exploration", "vw_args", "seed", "feature_names", "interactions")
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"artefact: unknown VW policy parameters {unknown}; expected some of {list(known)}")
        if "n_features" not in params:
            raise ValueError("artefact: the manifest's params lack n_features")
        return cls(n_actions, params["n_features"], n_positions=n_positions,
                   model_bytes=arrays["vw_model"].tobytes(), action_lines=arrays["action_lines"].tolist(),
                   feature_names=params.get("feature_names"), seed=params.get("seed", 0),
                   exploration=params.get("exploration"), vw_args=params.get("vw_args", ""),
                   interactions=params.get("interactions"))
