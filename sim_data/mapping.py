"""Column mappings: turn a shop's own log layout into the canonical schema.

A mapping file is TOML::

    kind = "bandit"                # optional; checked against --kind when both are given

    [columns]                      # canonical name = name in the shop's file
    event_id = "impression_id"
    action = "item"
    propensity = "pscore"
    reward = "clicked"

    [constants]                    # canonical columns the file lacks, filled with one value
    position = 0

    [features]                     # source columns kept as feature columns (renamed with the table's prefix)
    columns = ["age_band", "device"]

    [ids]                          # bandit tables: how the shop numbers its actions and slots
    actions = "labels"             # "labels": the shop's own ids (strings or integers) -> indices 0..n-1, sorted;
                                   # "index": already 0..n-1; "auto" (default): labels when some id is not an integer
    position_base = 1              # the shop's first slot is 1 (default 0)

Unmapped source columns that are neither canonical nor listed as features are dropped.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sim_data.schema import schema_for

ID_MODES = ("auto", "labels", "index")


@dataclass(frozen=True)
class Mapping:
    """A parsed mapping file. See the module docstring for the format."""

    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, object] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    kind: str | None = None
    action_ids: str = "auto"
    position_base: int = 0

    @classmethod
    def load(cls, path: str | Path) -> Mapping:
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"mapping file {path}: not valid TOML ({exc})") from None
        unknown = sorted(set(raw) - {"kind", "columns", "constants", "features", "ids"})
        if unknown:
            raise ValueError(f"mapping file {path}: unknown sections {unknown}; expected kind, [columns], [constants], "
                             "[features], [ids]")
        ids = raw.get("ids", {})
        if not isinstance(ids, dict) or set(ids) - {"actions", "position_base"}:
            raise ValueError(f"mapping file {path}: [ids] takes actions and position_base, found {ids!r}")
        if ids.get("actions", "auto") not in ID_MODES:
            raise ValueError(f"mapping file {path}: [ids] actions: expected one of {list(ID_MODES)}, "
                             f"found {ids.get('actions')!r}")
        if ids.get("position_base", 0) not in (0, 1) or isinstance(ids.get("position_base"), bool):
            raise ValueError(f"mapping file {path}: [ids] position_base: expected 0 or 1, found {ids.get('position_base')!r}")
        features = raw.get("features", {}).get("columns", [])
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ValueError(f"mapping file {path}: [features] columns must be a list of column names")
        for section in ("columns", "constants"):
            if not isinstance(raw.get(section, {}), dict):
                raise ValueError(f"mapping file {path}: [{section}] must be a table of name = value")
        for canonical, source in raw.get("columns", {}).items():
            if not isinstance(source, str):
                raise ValueError(f"mapping file {path}: [columns] {canonical} must name a source column (a string)")
        return cls(columns=dict(raw.get("columns", {})), constants=dict(raw.get("constants", {})),
                   features=tuple(features), kind=raw.get("kind"), action_ids=ids.get("actions", "auto"),
                   position_base=int(ids.get("position_base", 0)))

    def apply(self, df: pd.DataFrame, kind: str) -> pd.DataFrame:
        """Rename, fill constants and keep features; raises ``ValueError`` naming a source column that is absent."""
        if self.kind is not None and self.kind != kind:
            raise ValueError(f"mapping is for {self.kind!r} tables but the table kind is {kind!r}")
        schema = schema_for(kind)
        unknown = [c for c in list(self.columns) + list(self.constants) if c not in schema.names]
        if unknown:
            raise ValueError(f"mapping names columns {unknown} that the {kind} schema does not have; its columns are {schema.names}")
        absent = [src for src in list(self.columns.values()) + list(self.features) if src not in df.columns]
        if absent:
            raise ValueError(f"mapping refers to source columns {absent} that the file does not have; it has {list(df.columns)}")
        out = pd.DataFrame(index=df.index)
        for canonical in schema.names:
            if canonical in self.columns:
                out[canonical] = df[self.columns[canonical]]
            elif canonical in self.constants:
                out[canonical] = self.constants[canonical]
            elif canonical in df.columns:
                out[canonical] = df[canonical]
        prefix = schema.feature_prefix or ""
        for src in self.features:
            out[src if src.startswith(prefix) else f"{prefix}{src}"] = df[src]
        for col in df.columns:
            if schema.is_feature(str(col)) and col not in out.columns:
                out[col] = df[col]
        return out
