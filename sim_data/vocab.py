"""The shop's own ids <-> the dense indices the models and policies use.

A shop names its banners ``BNR-007`` or ``1042`` and numbers its slots from 1. Models, environments and policies
work on ``action in 0..n_actions-1`` and ``position in 0..n_positions-1``. A :class:`Vocabulary` is the one
translation between the two; it is fit once from a log (sorted labels, so the same log gives the same indices),
saved as ``vocabulary.json`` with every fit and every policy artefact built from it, and applied to every later
log and request so that indices always mean the same banner.

``vocabulary.json``::

    {"actions": ["BNR-001", "BNR-007", ...],   # index i <-> the shop's id actions[i] (strings or integers)
     "position_base": 1}                        # the shop's first slot number (0 or 1)

``actions`` is ``null`` when the log's action ids are already the indices (integers ``0..n-1``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim_data.io import write_text

VOCABULARY_FILE = "vocabulary.json"


def _label(value: Any) -> str | int:
    """A label as stored: an integer stays an integer (``3.0`` from a CSV float column too), anything else a string."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return str(value)


@dataclass(frozen=True)
class Vocabulary:
    """Action labels and the slot numbering of one shop's logs.

    :param actions: the shop's action ids in index order, or ``None`` when ids are the indices.
    :param position_base: the number of the first slot in the shop's files (0 or 1).
    """

    actions: tuple[str | int, ...] | None = None
    position_base: int = 0

    def __post_init__(self) -> None:
        if self.position_base not in (0, 1):
            raise ValueError(f"position_base: expected 0 or 1, found {self.position_base!r}")
        if self.actions is not None:
            keys = [str(a) for a in self.actions]
            if len(set(keys)) != len(keys):
                dup = sorted({k for k in keys if keys.count(k) > 1})[:5]
                raise ValueError(f"actions: expected distinct ids, found duplicates {dup}")
            if not keys:
                raise ValueError("actions: expected at least one id, found none")

    # ------------------------------------------------------------------ building
    @classmethod
    def fit(cls, actions: pd.Series | None, position_base: int = 0, labels: bool | None = None) -> Vocabulary:
        """The vocabulary of a log's action column.

        :param actions: the shop's action column (``None`` for tables without actions).
        :param position_base: the shop's first slot number.
        :param labels: ``True``: treat ids as labels even when they are integers; ``False``: they are indices;
            ``None`` (default): labels exactly when some id is not an integer.
        """
        if actions is None:
            return cls(None, position_base)
        values = pd.Series(actions).dropna()
        numeric = pd.to_numeric(values, errors="coerce")
        integral = bool(numeric.notna().all() and np.all(numeric == np.round(numeric)))
        use_labels = (not integral) if labels is None else bool(labels)
        if not use_labels:
            return cls(None, position_base)
        uniq = {str(_label(v)): _label(v) for v in values.unique().tolist()}
        ordered = sorted(uniq.values(), key=lambda v: (isinstance(v, str), v if isinstance(v, int) else 0, str(v)))
        return cls(tuple(ordered), position_base)

    @property
    def n_actions(self) -> int | None:
        return None if self.actions is None else len(self.actions)

    @property
    def is_identity(self) -> bool:
        return self.actions is None and self.position_base == 0

    # ------------------------------------------------------------------ translation
    def _index(self) -> dict[str, int]:
        return {str(a): i for i, a in enumerate(self.actions or ())}

    def encode_actions(self, values: Any, column: str = "action") -> np.ndarray:
        """The indices of the shop's action ids; raises ``ValueError`` naming unknown ids and their rows."""
        series = pd.Series(values)
        if self.actions is None:
            return series.to_numpy()
        index = self._index()
        keys = series.map(lambda v: None if pd.isna(v) else str(_label(v)))
        codes = keys.map(index)
        unknown = (codes.isna() & keys.notna()).to_numpy()
        if unknown.any():
            rows = np.flatnonzero(unknown)
            shown = sorted(set(keys[unknown].tolist()))[:5]
            raise ValueError(f"{column}: ids {shown} are not in the vocabulary of {len(index)} actions the fit "
                             f"or policy was built on (rows {rows[:10].tolist()}, {rows.size} in all); expected "
                             f"one of {list(self.actions)[:5]}{' ...' if len(index) > 5 else ''}")
        return codes.to_numpy(dtype=np.float64)

    def encode_candidates(self, values: pd.Series) -> pd.Series:
        """Space-separated shop ids per row -> space-separated indices (missing stays missing)."""
        if self.actions is None:
            return values
        index = self._index()

        def one(i: int, text: Any) -> Any:
            if pd.isna(text):
                return text
            out = []
            for token in str(text).split():
                if token not in index:
                    raise ValueError(f"candidates: id {token!r} in row {i} is not in the vocabulary of "
                                     f"{len(index)} actions")
                out.append(str(index[token]))
            return " ".join(out)

        return pd.Series([one(i, t) for i, t in enumerate(values.tolist())], index=values.index, dtype=object)

    def decode_action(self, index: int) -> str | int:
        """The shop's id of action index ``index``."""
        if self.actions is None:
            return int(index)
        if not 0 <= int(index) < len(self.actions):
            raise ValueError(f"action index {index}: expected 0 <= index < {len(self.actions)}")
        return self.actions[int(index)]

    def encode_action(self, label: Any) -> int:
        """The index of one shop id; raises ``ValueError`` naming it when unknown."""
        if self.actions is None:
            return int(label)
        code = self._index().get(str(_label(label)))
        if code is None:
            raise ValueError(f"action id {label!r} is not one of the policy's {len(self.actions)} actions")
        return code

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A bandit frame in the shop's ids -> the same frame in indices (``action``, ``candidates``, ``position``)."""
        out = frame.copy()
        if "action" in out.columns and self.actions is not None:
            out["action"] = self.encode_actions(out["action"])
        if "candidates" in out.columns and self.actions is not None:
            out["candidates"] = self.encode_candidates(out["candidates"])
        if "position" in out.columns and self.position_base:
            pos = pd.to_numeric(out["position"], errors="coerce")
            bad = (pos < self.position_base).to_numpy() & pos.notna().to_numpy()
            if bad.any():
                rows = np.flatnonzero(bad)
                raise ValueError(f"position: the mapping says slots are numbered from {self.position_base}, but rows "
                                 f"{rows[:10].tolist()} ({rows.size} in all) have smaller values "
                                 f"({pos[bad].head(3).tolist()})")
            out["position"] = pos - self.position_base
        return out

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        return {"actions": None if self.actions is None else list(self.actions), "position_base": self.position_base}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Vocabulary:
        if data is None:
            return cls()
        if not isinstance(data, dict) or set(data) - {"actions", "position_base"}:
            raise ValueError(f"vocabulary: expected an object with keys actions and position_base, found {data!r}")
        actions = data.get("actions")
        if actions is not None and not isinstance(actions, list):
            raise ValueError(f"vocabulary actions: expected a list of ids or null, found {type(actions).__name__}")
        return cls(None if actions is None else tuple(_label(a) for a in actions), int(data.get("position_base", 0)))

    def save(self, directory: str | Path) -> Path:
        """Write ``directory/vocabulary.json`` atomically."""
        return write_text(Path(directory) / VOCABULARY_FILE, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a ``vocabulary.json`` (or the one inside a directory)."""
        path = Path(path)
        if path.is_dir():
            path = path / VOCABULARY_FILE
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None

    @classmethod
    def load_optional(cls, directory: str | Path) -> Vocabulary | None:
        """The vocabulary saved in ``directory``, or ``None`` when there is none."""
        path = Path(directory) / VOCABULARY_FILE
        return cls.load(path) if path.is_file() else None
