"""The interface every behaviour model shares: ``fit``, ``evaluate``, ``report``, ``to_params``, ``save``/``load``.

A model is configured by its constructor arguments, learns in :meth:`BehaviourModel.fit` and is then frozen.
:meth:`BehaviourModel.save` writes one JSON file (``<dir>/<kind>.json``, atomically) holding the configuration
and the fitted state; :func:`load_model` reads any kind back.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sim_data.io import atomic_write

FORMAT_VERSION = 1
_KINDS: dict[str, type[BehaviourModel]] = {}


def to_jsonable(value: Any) -> Any:
    """Arrays to nested lists, numpy scalars to Python numbers, recursively through dicts, lists and tuples."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


class NotFittedError(RuntimeError):
    """A method that needs a fitted model was called before :meth:`BehaviourModel.fit`."""


class BehaviourModel(ABC):
    """Base class of the click, choice and arrival models.

    Subclasses set ``kind`` and implement ``fit``, ``evaluate``, ``report``, ``config``, ``_state`` and
    ``_restore``; they are registered for :func:`load_model` by subclassing.
    """

    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            _KINDS[cls.kind] = cls

    @abstractmethod
    def fit(self, data: Any, **kwargs: Any) -> BehaviourModel:
        """Learn from a logged-data table; returns ``self``."""

    @abstractmethod
    def evaluate(self, data: Any) -> dict:
        """Fit statistics on (held-out) data against the model's baseline."""

    @abstractmethod
    def report(self) -> dict:
        """What was learned, with uncertainty, as JSON-ready values."""

    @abstractmethod
    def config(self) -> dict:
        """The constructor arguments, JSON-ready."""

    @abstractmethod
    def _state(self) -> dict:
        """The fitted state, JSON-ready."""

    @abstractmethod
    def _restore(self, state: dict) -> None:
        """Set the fitted state from :meth:`_state`'s output."""

    @property
    def is_fitted(self) -> bool:
        return bool(getattr(self, "_fitted", False))

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(...) first (or load a saved model)")

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path`` (a directory gets ``<kind>.json`` inside it); atomic. Returns the file."""
        self._require_fitted()
        path = Path(path)
        if path.suffix != ".json":
            path = path / f"{self.kind}.json"
        doc = {"kind": self.kind, "format_version": FORMAT_VERSION, "config": to_jsonable(self.config()),
               "state": to_jsonable(self._state())}
        return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(doc, indent=1)))

    @classmethod
    def load(cls, path: str | Path) -> BehaviourModel:
        """Read a model saved by :meth:`save` (``path``: the file, or the directory holding ``<kind>.json``)."""
        path = Path(path)
        if path.is_dir():
            if not cls.kind:
                raise ValueError(f"{path} is a directory: pass the model's .json file, or call load on a model class")
            path = path / f"{cls.kind}.json"
        if not path.is_file():
            raise FileNotFoundError(f"no saved model at {path}")
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        kind = doc.get("kind")
        if kind not in _KINDS:
            raise ValueError(f"{path}: field 'kind' expected one of {sorted(_KINDS)}, found {kind!r}")
        if cls.kind and kind != cls.kind:
            raise ValueError(f"{path}: holds a {kind!r} model, expected {cls.kind!r}")
        if doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: field 'format_version' expected {FORMAT_VERSION}, found {doc.get('format_version')!r}")
        model = _KINDS[kind](**doc["config"])
        model._restore(doc["state"])
        model._fitted = True
        return model


def load_model(path: str | Path) -> BehaviourModel:
    """Load any saved behaviour model from its ``.json`` file."""
    return BehaviourModel.load(path)
