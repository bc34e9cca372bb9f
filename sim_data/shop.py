"""A shop's own file -> a validated log: read (CSV, Parquet, a Parquet directory), map columns, encode ids, validate.

This is the one entry point every step of the loop uses for a shop's tables (``retailrl sim fit FILE``,
``retailrl loop``, ``retailrl ope run --logs FILE``)::

    table = load_shop_table("banners.parquet", "bandit", mapping="banners.toml")
    table.log          # BanditLog / ChoiceLog / StockLog in indices
    table.vocabulary   # the shop's ids <-> indices (sim_data.vocab.Vocabulary), saved with fits and policies
    table.source       # the file as read, in the shop's column names (instrument columns are read from it)

Pass ``vocabulary=`` to read a later log with the ids of an earlier fit or a policy: an id it does not know is an
error naming the id and rows, never a silently different index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim_data.errors import SchemaError
from sim_data.io import read_table
from sim_data.logs import BanditLog, ChoiceLog, Provenance, StockLog
from sim_data.mapping import Mapping
from sim_data.schema import schema_for
from sim_data.vocab import Vocabulary


@dataclass
class ShopTable:
    """One of a shop's tables, validated.

    :param log: the validated log in indices.
    :param vocabulary: the id translation it was encoded with.
    :param source: the file's raw frame (the shop's own column names), for columns the schema does not keep.
    """

    log: BanditLog | ChoiceLog | StockLog
    vocabulary: Vocabulary
    source: pd.DataFrame


def load_shop_table(path: str | Path, kind: str, mapping: str | Path | Mapping | None = None,
                    vocabulary: Vocabulary | None = None, n_actions: int | None = None,
                    n_positions: int | None = None) -> ShopTable:
    """Read, map, encode and validate one table.

    :param path: a CSV or Parquet file or a directory of Parquet files.
    :param kind: ``bandit``, ``choice`` or ``stock``.
    :param mapping: a mapping file (or a parsed :class:`Mapping`); ``None`` when the file has canonical columns.
    :param vocabulary: encode with these ids (a fit's or a policy's) instead of fitting them from the file.
    :param n_actions: bandit: the action space's size (default: the vocabulary's, else the largest id + 1).
    :param n_positions: bandit: the number of slots (default: the largest slot + 1).
    :raises ValueError: naming the file, then the column, rows and what was expected (a
        :class:`~sim_data.errors.SchemaError` for schema problems).
    """
    schema_for(kind)
    path = Path(path)
    m = mapping if isinstance(mapping, Mapping) or mapping is None else Mapping.load(mapping)
    try:
        source = read_table(path)
        frame = m.apply(source, kind) if m is not None else source
        if kind == "bandit":
            if vocabulary is None:
                labels = None if m is None or m.action_ids == "auto" else m.action_ids == "labels"
                vocabulary = Vocabulary.fit(frame["action"] if "action" in frame else None,
                                            position_base=0 if m is None else m.position_base, labels=labels)
            encoded = vocabulary.apply(frame)
            log = BanditLog.from_frame(encoded, n_actions=n_actions or vocabulary.n_actions, n_positions=n_positions,
                                       provenance=Provenance("file", details={"path": str(path)}),
                                       logging_policy="logged")
        else:
            vocabulary = vocabulary or Vocabulary()
            for col in ("product", "shopper_id"):     # the shop's ids are kept as strings: ints become "1042"
                if col in frame.columns and not pd.api.types.is_string_dtype(frame[col]):
                    frame = frame.assign(**{col: frame[col].map(lambda v: v if pd.isna(v) else str(v))})
            cls = ChoiceLog if kind == "choice" else StockLog
            log = cls.from_frame(frame, provenance=Provenance("file", details={"path": str(path)}))
    except SchemaError as exc:
        raise SchemaError(f"{path} ({kind})", exc.problems) from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return ShopTable(log=log, vocabulary=vocabulary, source=source)
