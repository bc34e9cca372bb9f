"""Vowpal Wabbit text format for ``--cb_explore_adf`` multi-line examples, with cached action lines.

It lives in ``policies`` so that the serving form of a VW policy (:mod:`policies.vw_policy`) formats examples
exactly as the learner in ``agents`` did, without importing ``agents``.

One example is a list of lines (VW's "ADF" format)::

    shared |s c0:0.25 c1:-1.3 |p p2
    |a a0 |f f0:0.5
    0:-1.0:0.25 |a a1 |f f0:0.1      <- the chosen action's line carries the label action:cost:probability
    |a a2 |f f0:0.9

Namespace ``s`` holds the context (``c<j>:<value>``), ``p`` the slot (only when there are several), ``a`` the
action's id (``a<k>``: a per-action intercept) and ``f`` the action's own features (``f<j>:<value>``, only when
the log has item features). The learner crosses ``s x a`` (and ``s x f``, ``p x a``) so a linear model can
learn a different best action per context. Cost = -reward.

The per-action lines are built once (:class:`ADFFormatter`) so parsing, not string building, is VW's cost.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

CONTEXT_NAMESPACE = "s"
POSITION_NAMESPACE = "p"
ACTION_NAMESPACE = "a"
ACTION_FEATURE_NAMESPACE = "f"


_UNSAFE = re.compile(r"[\s|:]")


def feature_table(values: np.ndarray | pd.DataFrame, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Features as a DataFrame with one column per feature (numbers or strings).

    :param values: an array ``(n_rows, n_features)`` (or ``(n_rows,)``), or a DataFrame.
    :param name: the argument's name, for errors.
    :param columns: DataFrame columns to take, in order (default: every column).
    :raises ValueError: for a wrong shape, a missing column, or a non-finite number.
    """
    if isinstance(values, pd.DataFrame):
        if columns is not None:
            missing = [c for c in columns if c not in values.columns]
            if missing:
                raise ValueError(f"{name}: missing feature columns {missing}; it has {list(values.columns)}")
            values = values[list(columns)]
        table = values.reset_index(drop=True)
    else:
        arr = np.asarray(values)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(f"{name}: expected shape (n_rows, n_features), got {arr.shape}")
        table = pd.DataFrame(arr)
    for col in table.columns:
        if pd.api.types.is_bool_dtype(table[col]):
            table[col] = table[col].astype(np.float64)
        if pd.api.types.is_numeric_dtype(table[col]) and not np.isfinite(table[col].to_numpy(np.float64)).all():
            raise ValueError(f"{name}: column {col!r} holds NaN or infinite values; expected finite numbers")
    return table


def feature_strings(table: pd.DataFrame, prefix: str) -> list[str]:
    """One VW feature string per row: ``<prefix><j>:<value>`` for numbers (zeros left out, as VW ignores them)
    and ``<prefix><j>=<value>`` for strings/categories (a one-hot feature). ``j`` is the column's position."""
    per_column = []
    for j, col in enumerate(table.columns):
        series = table[col]
        if pd.api.types.is_numeric_dtype(series):
            per_column.append([f"{prefix}{j}:{v:.9g}" if v != 0.0 else "" for v in series.to_numpy(np.float64).tolist()])
        else:
            per_column.append([f"{prefix}{j}={_UNSAFE.sub('_', str(v))}" for v in series.tolist()])
    if not per_column:
        return [""] * len(table)
    return [" ".join(t for t in row if t) for row in zip(*per_column, strict=True)]


def default_interactions(has_action_features: bool, n_positions: int) -> list[str]:
    """The namespace crosses the learner uses by default: ``sa`` (+ ``sf``, ``pa``)."""
    out = [CONTEXT_NAMESPACE + ACTION_NAMESPACE]
    if has_action_features:
        out.append(CONTEXT_NAMESPACE + ACTION_FEATURE_NAMESPACE)
    if n_positions > 1:
        out.append(POSITION_NAMESPACE + ACTION_NAMESPACE)
    return out


class ADFFormatter:
    """Builds VW ADF examples for a fixed action space, caching each action's line.

    :param n_actions: size of the action space.
    :param n_positions: number of slots (> 1 adds a ``p<k>`` shared feature).
    :param action_features: optional item features, one row per action id: an array
        ``(n_actions, n_action_features)`` or a DataFrame (numbers and strings; strings become one-hot features).
    """

    def __init__(self, n_actions: int, n_positions: int = 1,
                 action_features: np.ndarray | pd.DataFrame | None = None):
        self.n_actions = int(n_actions)
        self.n_positions = int(n_positions)
        item_strings = [""] * self.n_actions
        if action_features is not None:
            table = feature_table(action_features, "action_features")
            if len(table) != self.n_actions:
                raise ValueError(f"action_features: expected one row per action ({self.n_actions}), got {len(table)}")
            item_strings = feature_strings(table, ACTION_FEATURE_NAMESPACE)
        self.has_action_features = action_features is not None
        self.action_lines = [f"|{ACTION_NAMESPACE} a{a}" + (f" |{ACTION_FEATURE_NAMESPACE} {f}" if f else "")
                             for a, f in enumerate(item_strings)]

    @classmethod
    def from_action_lines(cls, action_lines: list[str], n_positions: int = 1) -> ADFFormatter:
        """Rebuild a formatter from its cached per-action lines (as saved with a model)."""
        formatter = cls(len(action_lines), n_positions)
        bad = [i for i, line in enumerate(action_lines) if not str(line).startswith(f"|{ACTION_NAMESPACE} a{i}")]
        if bad:
            raise ValueError(f"action_lines: line(s) {bad[:5]} do not start with '|{ACTION_NAMESPACE} a<id>'")
        formatter.action_lines = [str(line) for line in action_lines]
        formatter.has_action_features = any(f"|{ACTION_FEATURE_NAMESPACE} " in line for line in formatter.action_lines)
        return formatter

    def shared_lines(self, contexts: pd.DataFrame, positions: np.ndarray | int = 0) -> list[str]:
        """The ``shared`` line of each row of ``contexts`` (see :func:`feature_table`) in its slot.

        :param contexts: one row per round.
        :param positions: ``(n_rounds,)`` slots, or one slot for every row.
        """
        feats = feature_strings(contexts, "c")
        head = [f"shared |{CONTEXT_NAMESPACE} {f}" for f in feats]
        if self.n_positions > 1:
            pos = np.broadcast_to(np.asarray(positions, dtype=np.int64), (len(head),))
            head = [f"{h} |{POSITION_NAMESPACE} p{k}" for h, k in zip(head, pos.tolist(), strict=True)]
        return head

    def example(self, shared: str, actions: list[int] | None = None) -> list[str]:
        """An unlabelled multi-line example: the shared line, then one cached line per eligible action."""
        lines = self.action_lines if actions is None else [self.action_lines[a] for a in actions]
        return [shared, *lines]

    def labelled(self, shared: str, actions: list[int] | None, chosen_index: int, cost: float,
                 probability: float) -> list[str]:
        """The example with ``chosen:cost:probability`` on the chosen action's line.

        :param chosen_index: index of the chosen action *within* ``actions`` (its line number minus one).
        """
        lines = self.example(shared, actions)
        lines[1 + chosen_index] = f"{chosen_index}:{cost:.9g}:{probability:.9g} {lines[1 + chosen_index]}"
        return lines


def _row_strings(values: list, prefix: str) -> str:
    """:func:`feature_strings` for one row of plain Python values (no pandas: the serving fast path).

    Numbers (and booleans, as 0/1) become ``<prefix><j>:<value>`` (zeros left out); strings ``<prefix><j>=<value>``.
    """
    out = []
    for j, v in enumerate(values):
        if isinstance(v, bool):
            v = float(v)
        if isinstance(v, int | float | np.integer | np.floating):
            v = float(v)
            if v != v or v in (float("inf"), float("-inf")):
                raise ValueError(f"feature {j}: expected a finite number, got {v!r}")
            if v != 0.0:
                out.append(f"{prefix}{j}:{v:.9g}")
        elif isinstance(v, str):
            out.append(f"{prefix}{j}={_UNSAFE.sub('_', v)}")
        else:
            raise ValueError(f"feature {j}: expected a number or a string, got {type(v).__name__}")
    return " ".join(out)


def shared_line(values: list, position: int = 0, n_positions: int = 1) -> str:
    """The ``shared`` line of one context given as plain values, identical to :meth:`ADFFormatter.shared_lines`.

    :param values: the context's features, ``(n_features,)`` numbers or strings.
    :param position: the slot (a ``p<k>`` feature when ``n_positions > 1``).
    :param n_positions: the number of slots the model was trained with.
    """
    head = f"shared |{CONTEXT_NAMESPACE} {_row_strings(values, 'c')}"
    return f"{head} |{POSITION_NAMESPACE} p{int(position)}" if n_positions > 1 else head


def action_line(action_id: int, features: list | None = None) -> str:
    """One action's ADF line (``|a a<id>`` plus ``|f`` item features given as plain values)."""
    item = _row_strings(list(features), ACTION_FEATURE_NAMESPACE) if features else ""
    return f"|{ACTION_NAMESPACE} a{int(action_id)}" + (f" |{ACTION_FEATURE_NAMESPACE} {item}" if item else "")
