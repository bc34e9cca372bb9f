"""The deployable policy interface: what training produces, OPE evaluates, the registry stores and the API serves.

A :class:`Policy` maps contexts to an *action distribution* of shape ``(n_rounds, n_actions, n_positions)``:
``dist[i, a, k]`` is the probability of showing action ``a`` in slot ``k`` for round ``i``; every
``dist[i, :, k]`` sums to 1 (slots are chosen independently, as in the Open Bandit Dataset).

A policy saves itself as a self-describing *artefact*: a directory holding ``policy.json`` (the manifest: format,
class path, sizes, JSON parameters and the sha256 of every data file) plus its ``.npy`` data files.
:meth:`Policy.load` reads the manifest, imports the class it names and rebuilds the policy;
:func:`artefact_sha256` fingerprints an artefact for the registry. Subclasses (agents) implement
``action_dist``, ``_params`` / ``_arrays`` and ``_from_saved``; torch and VW stay out of this module.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from policies.artefacts import artefact_sha256 as _artefact_sha256
from sim_data.io import atomic_write

MANIFEST = "policy.json"
FORMAT = "retailrl.policy/1"
_SUM_TOLERANCE = 1e-6
_CHUNK_ROWS = 8192  # rows per cache-sized chunk of LinearSoftmaxPolicy.slot_dist


def context_matrix(contexts: np.ndarray | pd.DataFrame, feature_names: list[str] | None = None) -> np.ndarray:
    """Turn contexts into a float matrix of shape ``(n_rounds, n_features)``.

    :param contexts: an array ``(n_rounds, n_features)`` (or ``(n_rounds,)`` for one feature), or a DataFrame;
        from a DataFrame the columns ``feature_names`` are taken, else every ``context_*`` column, else all columns.
    :param feature_names: the DataFrame columns to use, in order.
    :raises ValueError: naming a missing or non-numeric column, or a wrong shape.
    """
    if isinstance(contexts, pd.DataFrame):
        if feature_names is None:
            feature_names = [c for c in contexts.columns if str(c).startswith("context_")] or list(contexts.columns)
        missing = [c for c in feature_names if c not in contexts.columns]
        if missing:
            raise ValueError(f"contexts: missing feature columns {missing}; it has {list(contexts.columns)}")
        bad = [c for c in feature_names if not pd.api.types.is_numeric_dtype(contexts[c])]
        if bad:
            raise ValueError(f"contexts: columns {bad} are not numeric; encode them (e.g. one-hot) before the policy")
        return contexts[feature_names].to_numpy(dtype=np.float64)
    x = np.asarray(contexts, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"contexts: expected an array of shape (n_rounds, n_features), got shape {x.shape}")
    return x


def check_action_dist(dist: np.ndarray, name: str = "action_dist", ndim: int = 3) -> np.ndarray:
    """Check an action distribution: finite, in [0, 1], summing to 1 over actions (axis ``-2``).

    :param dist: array of shape ``(n_rounds, n_actions, n_positions)`` (``ndim=3``) or ``(n_actions, n_positions)``.
    :param name: the argument's name, for errors.
    :param ndim: the expected number of dimensions.
    :return: the array as float64.
    """
    dist = np.asarray(dist, dtype=np.float64)
    shape = "(n_rounds, n_actions, n_positions)" if ndim == 3 else "(n_actions, n_positions)"
    if dist.ndim != ndim:
        raise ValueError(f"{name}: expected an array of shape {shape}, got shape {dist.shape}")
    if not np.isfinite(dist).all() or (dist < 0).any() or (dist > 1 + _SUM_TOLERANCE).any():
        raise ValueError(f"{name}: expected probabilities in [0, 1], found values outside it or NaN")
    sums = dist.sum(axis=-2)
    if np.abs(sums - 1.0).max(initial=0.0) > _SUM_TOLERANCE:
        raise ValueError(f"{name}: each [..., :, k] must sum to 1 over actions; found sums from "
                         f"{sums.min():.6g} to {sums.max():.6g}")
    return dist


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to a temporary path
        np.save(f, np.asarray(array), allow_pickle=False)


def artefact_sha256(directory: str | Path) -> str:
    """The sha256 of a saved policy artefact (:func:`policies.artefacts.artefact_sha256`, as the registry records it)."""
    directory = Path(directory)
    if not (directory / MANIFEST).is_file():
        raise FileNotFoundError(f"{directory}: not a policy artefact (no {MANIFEST})")
    return _artefact_sha256(directory)


class Policy(ABC):
    """A deployable policy: contexts in, an action distribution ``(n_rounds, n_actions, n_positions)`` out.

    :param n_actions: size of the action space.
    :param n_positions: number of slots.
    """

    def __init__(self, n_actions: int, n_positions: int = 1):
        for name, value in (("n_actions", n_actions), ("n_positions", n_positions)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        self.n_actions = int(n_actions)
        self.n_positions = int(n_positions)

    @abstractmethod
    def action_dist(self, contexts: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Probabilities of each action in each slot.

        :param contexts: ``(n_rounds, n_features)`` array or a DataFrame of context columns.
        :return: array of shape ``(n_rounds, n_actions, n_positions)``; each ``[i, :, k]`` sums to 1.
        """

    def slot_dist(self, contexts: np.ndarray | pd.DataFrame, positions: np.ndarray) -> np.ndarray:
        """Each round's distribution over actions in one slot: ``action_dist(contexts)[i, :, positions[i]]``.

        What streaming OPE needs (the logged slot only); subclasses override it to skip the other slots.

        :param contexts: as for :meth:`action_dist`.
        :param positions: ``(n_rounds,)`` slot of each round.
        :return: array ``(n_rounds, n_actions)``; each row sums to 1.
        """
        dist = self.action_dist(contexts)
        return dist[np.arange(dist.shape[0]), :, np.asarray(positions, dtype=np.int64)]

    def logged_probs(self, contexts: np.ndarray | pd.DataFrame, positions: np.ndarray,
                     actions: np.ndarray) -> np.ndarray:
        """``pi(actions[i] | contexts[i], positions[i])``, shape ``(n_rounds,)``: what IPW needs, nothing more."""
        dist = self.slot_dist(contexts, positions)
        return dist[np.arange(dist.shape[0]), np.asarray(actions, dtype=np.int64)]

    def sample(self, contexts: np.ndarray | pd.DataFrame, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw one action per round and slot (slots independently).

        :param contexts: as for :meth:`action_dist`.
        :param rng: a seeded numpy Generator.
        :return: ``(actions, propensities)``, both of shape ``(n_rounds, n_positions)``.
        """
        dist = self.action_dist(contexts)
        cdf = np.cumsum(dist, axis=1)
        u = rng.random((dist.shape[0], 1, dist.shape[2]))
        actions = np.minimum((cdf < u).sum(axis=1), self.n_actions - 1)
        probs = np.take_along_axis(dist, actions[:, None, :], axis=1)[:, 0, :]
        return actions, probs

    def _params(self) -> dict[str, Any]:
        """JSON-serialisable constructor parameters (besides the arrays)."""
        return {}

    def _arrays(self) -> dict[str, np.ndarray]:
        """Named arrays saved as ``NAME.npy`` beside the manifest."""
        return {}

    @classmethod
    def _from_saved(cls, n_actions: int, n_positions: int, params: dict[str, Any],
                    arrays: dict[str, np.ndarray]) -> Policy:
        """Rebuild from what :meth:`save` wrote. Subclasses override."""
        return cls(n_actions=n_actions, n_positions=n_positions, **params, **arrays)

    def manifest(self) -> dict[str, Any]:
        """The manifest written as ``policy.json`` (without the file hashes)."""
        cls = type(self)
        return {"format": FORMAT, "class": f"{cls.__module__}.{cls.__qualname__}", "n_actions": self.n_actions,
                "n_positions": self.n_positions, "params": self._params()}

    def save(self, directory: str | Path) -> Path:
        """Write the artefact (data files first, the manifest last, each atomically).

        :param directory: created if absent; existing files of the same names are replaced.
        :return: the directory.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        manifest = self.manifest()
        files = {}
        for name, array in self._arrays().items():
            path = directory / f"{name}.npy"
            atomic_write(path, lambda tmp, a=array: _save_npy(tmp, a))
            files[path.name] = _sha256_file(path)
        manifest["files"] = files
        text = json.dumps(manifest, indent=2, sort_keys=True)
        atomic_write(directory / MANIFEST, lambda tmp: tmp.write_text(text))
        return directory

    @staticmethod
    def load(directory: str | Path) -> Policy:
        """Load any saved policy: import the class its manifest names and rebuild it.

        :raises ValueError: for an unreadable manifest, an unknown class or a data file whose sha256 changed.
        """
        directory = Path(directory)
        path = directory / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"{directory}: not a policy artefact (no {MANIFEST})")
        try:
            manifest = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        missing = [k for k in ("format", "class", "n_actions", "n_positions") if k not in manifest]
        if missing:
            raise ValueError(f"{path}: manifest lacks {missing}")
        if manifest["format"] != FORMAT:
            raise ValueError(f"{path}: format {manifest['format']!r} is not {FORMAT!r}")
        module_name, _, class_name = str(manifest["class"]).rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError, ValueError):
            raise ValueError(f"{path}: cannot import policy class {manifest['class']!r}") from None
        if not (isinstance(cls, type) and issubclass(cls, Policy)):
            raise ValueError(f"{path}: {manifest['class']!r} is not a Policy subclass")
        arrays = {}
        for file_name, digest in manifest.get("files", {}).items():
            data_path = directory / file_name
            if not data_path.is_file():
                raise FileNotFoundError(f"{directory}: data file {file_name} named in the manifest is missing")
            if _sha256_file(data_path) != digest:
                raise ValueError(f"{data_path}: sha256 differs from the manifest (file changed or corrupt)")
            arrays[Path(file_name).stem] = np.load(data_path, allow_pickle=False)
        return cls._from_saved(int(manifest["n_actions"]), int(manifest["n_positions"]),
                               dict(manifest.get("params", {})), arrays)


class UniformPolicy(Policy):
    """Every action equally likely in every slot."""

    def action_dist(self, contexts: np.ndarray | pd.DataFrame) -> np.ndarray:
        n = len(contexts)
        return np.full((n, self.n_actions, self.n_positions), 1.0 / self.n_actions)


class FixedDistributionPolicy(Policy):
    """The same distribution for every context.

    :param dist: array ``(n_actions, n_positions)``; each column sums to 1.
    """

    def __init__(self, dist: np.ndarray, n_actions: int | None = None, n_positions: int | None = None):
        dist = check_action_dist(dist, "dist", ndim=2)
        if (n_actions is not None and n_actions != dist.shape[0]) or (
                n_positions is not None and n_positions != dist.shape[1]):
            raise ValueError(f"dist: shape {dist.shape} disagrees with n_actions={n_actions}, n_positions={n_positions}")
        super().__init__(dist.shape[0], dist.shape[1])
        self.dist = dist

    def action_dist(self, contexts: np.ndarray | pd.DataFrame) -> np.ndarray:
        return np.broadcast_to(self.dist, (len(contexts),) + self.dist.shape).copy()

    def slot_dist(self, contexts: np.ndarray | pd.DataFrame, positions: np.ndarray) -> np.ndarray:
        return self.dist[:, np.asarray(positions, dtype=np.int64)].T

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"dist": self.dist}


class ArrayPolicy(Policy):
    """A precomputed action distribution for a fixed set of rounds (e.g. the rows of one log).

    :param dist: array ``(n_rounds, n_actions, n_positions)``; ``action_dist(contexts)`` needs ``n_rounds`` contexts
        and returns it (the contexts' values are not used: row ``i`` is round ``i``).
    """

    def __init__(self, dist: np.ndarray, n_actions: int | None = None, n_positions: int | None = None):
        dist = check_action_dist(dist, "dist", ndim=3)
        if (n_actions is not None and n_actions != dist.shape[1]) or (
                n_positions is not None and n_positions != dist.shape[2]):
            raise ValueError(f"dist: shape {dist.shape} disagrees with n_actions={n_actions}, n_positions={n_positions}")
        super().__init__(dist.shape[1], dist.shape[2])
        self.dist = dist

    def action_dist(self, contexts: np.ndarray | pd.DataFrame) -> np.ndarray:
        if len(contexts) != self.dist.shape[0]:
            raise ValueError(f"contexts: this ArrayPolicy holds {self.dist.shape[0]} rounds, got {len(contexts)} contexts")
        return self.dist.copy()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"dist": self.dist}


class LinearSoftmaxPolicy(Policy):
    """Softmax (or epsilon-greedy) over a linear score ``s[i, a, k] = x_i @ weights[:, a, k] + bias[a, k]``.

    ``dist[i, :, k] = (1 - epsilon) * softmax(s[i, :, k] / temperature) + epsilon / n_actions``; with
    ``temperature=0`` the softmax becomes the argmax (ties split evenly), i.e. epsilon-greedy.

    :param weights: array ``(n_features, n_actions, n_positions)`` (or ``(n_features, n_actions)`` for one slot).
    :param bias: array ``(n_actions, n_positions)`` (or ``(n_actions,)``); zeros when omitted.
    :param temperature: softmax temperature, >= 0.
    :param epsilon: exploration share in [0, 1].
    :param feature_names: DataFrame columns the features come from (default: the ``context_*`` columns).
    """

    def __init__(self, weights: np.ndarray, bias: np.ndarray | None = None, temperature: float = 1.0,
                 epsilon: float = 0.0, feature_names: list[str] | None = None,
                 n_actions: int | None = None, n_positions: int | None = None):
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim == 2:
            w = w[:, :, None]
        if w.ndim != 3 or not np.isfinite(w).all():
            raise ValueError(f"weights: expected finite numbers of shape (n_features, n_actions, n_positions), got {w.shape}")
        b = np.zeros(w.shape[1:]) if bias is None else np.asarray(bias, dtype=np.float64)
        if b.size != w.shape[1] * w.shape[2] or not np.isfinite(b).all():
            raise ValueError(f"bias: expected finite numbers of shape {w.shape[1:]}, got shape {np.shape(bias)}")
        b = b.reshape(w.shape[1:])
        if not (temperature >= 0) or not (0 <= epsilon <= 1):
            raise ValueError(f"temperature must be >= 0 and epsilon in [0, 1]; got {temperature}, {epsilon}")
        if feature_names is not None and len(feature_names) != w.shape[0]:
            raise ValueError(f"feature_names: {len(feature_names)} names for {w.shape[0]} weight rows")
        super().__init__(w.shape[1], w.shape[2])
        if (n_actions, n_positions) != (None, None) and (n_actions, n_positions) != w.shape[1:]:
            raise ValueError(f"weights: shape {w.shape} disagrees with n_actions={n_actions}, n_positions={n_positions}")
        self.weights, self.bias = w, b
        self.temperature, self.epsilon = float(temperature), float(epsilon)
        self.feature_names = list(feature_names) if feature_names is not None else None

    def scores(self, contexts: np.ndarray | pd.DataFrame) -> np.ndarray:
        """The linear scores, shape ``(n_rounds, n_actions, n_positions)``."""
        x = context_matrix(contexts, self.feature_names)
        if x.shape[1] != self.weights.shape[0]:
            raise ValueError(f"contexts: expected {self.weights.shape[0]} features, got {x.shape[1]}")
        return np.einsum("nf,fak->nak", x, self.weights) + self.bias

    def _softmax(self, s: np.ndarray) -> np.ndarray:
        """The distribution from scores over actions on axis 1 (``(n, n_actions, n_positions)`` or ``(n, n_actions)``)."""
        if self.temperature == 0:
            best = s == s.max(axis=1, keepdims=True)
            dist = best / best.sum(axis=1, keepdims=True)
        else:
            z = (s - s.max(axis=1, keepdims=True)) / self.temperature
            e = np.exp(z)
            dist = e / e.sum(axis=1, keepdims=True)
        return (1.0 - self.epsilon) * dist + self.epsilon / self.n_actions

    def action_dist(self, contexts: np.ndarray | pd.DataFrame) -> np.ndarray:
        return self._softmax(self.scores(contexts))

    def _slot_chunks(self, contexts: np.ndarray | pd.DataFrame, positions: np.ndarray):
        """``(rows, e, z)`` per chunk of at most 8,192 rows of one slot (cache-sized, computed in place).

        ``e = exp((s - max_a s) / temperature)`` (the argmax indicator when ``temperature == 0``) of the rows'
        scores ``s`` in their slot, shape ``(len(rows), n_actions)``, and ``z = e.sum(axis=1)``.
        """
        x = context_matrix(contexts, self.feature_names)
        if x.shape[1] != self.weights.shape[0]:
            raise ValueError(f"contexts: expected {self.weights.shape[0]} features, got {x.shape[1]}")
        k = np.asarray(positions, dtype=np.int64)
        if k.shape != (x.shape[0],):
            raise ValueError(f"positions: expected shape ({x.shape[0]},) like the contexts, got {k.shape}")
        x1 = np.empty((x.shape[0], x.shape[1] + 1))  # [x, 1]: the bias rides in the product
        x1[:, :-1], x1[:, -1] = x, 1.0
        for slot in range(self.n_positions):
            w1 = np.vstack([self.weights[:, :, slot], self.bias[None, :, slot]])
            in_slot = np.flatnonzero(k == slot)
            for lo in range(0, in_slot.size, _CHUNK_ROWS):
                rows = in_slot[lo:lo + _CHUNK_ROWS]
                e = np.einsum("nf,fa->na", x1[rows], w1)  # einsum: faster than BLAS for 4-5 features
                top = e.max(axis=1, keepdims=True)
                if self.temperature == 0:
                    e = (e == top).astype(np.float64)
                else:
                    e -= top
                    if self.temperature != 1:
                        e /= self.temperature
                    np.exp(e, out=e)
                yield rows, e, e.sum(axis=1)

    def slot_dist(self, contexts: np.ndarray | pd.DataFrame, positions: np.ndarray) -> np.ndarray:
        """The logged slot's distribution ``(n_rounds, n_actions)``, scoring that slot only."""
        out = np.empty((len(positions), self.n_actions))
        for rows, e, z in self._slot_chunks(contexts, positions):
            e *= ((1.0 - self.epsilon) / z)[:, None]
            e += self.epsilon / self.n_actions
            out[rows] = e
        return out

    def logged_probs(self, contexts: np.ndarray | pd.DataFrame, positions: np.ndarray,
                     actions: np.ndarray) -> np.ndarray:
        """``pi(a_i | x_i, k_i)`` without building the distribution.

        With ``temperature > 0`` the scores are shifted by the logged action's own score inside the product
        (``[x, 1, -s_i] @ [W; b; 1] / temperature``), so ``pi = (1 - epsilon) / z + epsilon / n_actions`` with
        ``z = sum_a exp((s_a - s_i) / temperature)``: no max or gather pass. A row whose ``z`` overflows
        (a score more than ~700 temperatures above the logged one) is redone with the max shift, row by row.
        """
        a = np.asarray(actions, dtype=np.int64)
        if self.temperature == 0:
            out = np.empty(a.shape[0])
            for rows, e, z in self._slot_chunks(contexts, positions):
                out[rows] = (1.0 - self.epsilon) * e[np.arange(rows.size), a[rows]] / z + self.epsilon / self.n_actions
            return out
        x = context_matrix(contexts, self.feature_names)
        if x.shape[1] != self.weights.shape[0]:
            raise ValueError(f"contexts: expected {self.weights.shape[0]} features, got {x.shape[1]}")
        k = np.asarray(positions, dtype=np.int64)
        if k.shape != (x.shape[0],) or a.shape != (x.shape[0],):
            raise ValueError(f"positions, actions: expected shape ({x.shape[0]},) like the contexts, got {k.shape}, "
                             f"{a.shape}")
        f = x.shape[1]
        x2 = np.empty((x.shape[0], f + 2))  # [x, 1, -s_logged]
        x2[:, :f], x2[:, f] = x, 1.0
        z = np.empty(x.shape[0])
        for slot in range(self.n_positions):
            w2 = np.vstack([self.weights[:, :, slot], self.bias[None, :, slot], np.zeros((1, self.n_actions))])
            w2 /= self.temperature
            w2[-1] = 1.0  # the shift column already holds -s_i / temperature
            in_slot = np.flatnonzero(k == slot)
            x2[in_slot, f + 1] = -np.einsum("nf,nf->n", x2[in_slot, :f + 1], w2[:f + 1, a[in_slot]].T)
            for lo in range(0, in_slot.size, _CHUNK_ROWS):
                rows = in_slot[lo:lo + _CHUNK_ROWS]
                e = np.einsum("nf,fa->na", x2[rows], w2)
                with np.errstate(over="ignore"):
                    np.exp(e, out=e)
                z[rows] = e.sum(axis=1)
        probs = (1.0 - self.epsilon) / z + self.epsilon / self.n_actions
        bad = np.flatnonzero(~np.isfinite(z))
        if bad.size:  # rare overflow: the max-shifted path for those rows
            probs[bad] = self.slot_dist(x[bad], k[bad])[np.arange(bad.size), a[bad]]
        return probs

    def _params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "epsilon": self.epsilon, "feature_names": self.feature_names}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights, "bias": self.bias}

    @classmethod
    def _from_saved(cls, n_actions, n_positions, params, arrays):
        return cls(n_actions=n_actions, n_positions=n_positions, **params, **arrays)


class EpsilonGreedyPolicy(LinearSoftmaxPolicy):
    """Epsilon-greedy over a linear score: the best-scoring action with prob. ``1 - epsilon``, else uniform.

    :param weights: as for :class:`LinearSoftmaxPolicy`.
    :param epsilon: exploration share in [0, 1].
    """

    def __init__(self, weights: np.ndarray, bias: np.ndarray | None = None, epsilon: float = 0.1,
                 feature_names: list[str] | None = None, temperature: float = 0.0,
                 n_actions: int | None = None, n_positions: int | None = None):
        if temperature != 0:
            raise ValueError("EpsilonGreedyPolicy has temperature 0; use LinearSoftmaxPolicy for a softmax")
        super().__init__(weights, bias, 0.0, epsilon, feature_names, n_actions, n_positions)
