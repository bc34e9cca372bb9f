"""``retailrl sim fit FILE --kind bandit|choice|stock``: fit the simulator from a shop's own table.

Each kind writes what the public sources write (see :mod:`envs.fit`) into the fit directory, plus the shop's ids:

* ``bandit`` -> the click model (position bias, relevance by context, propensity-weighted). Fidelity is a time
  split: fit on the earliest ``1 - test_share`` of impressions, replay the rest through the model and compare
  its CTR with the logged (on-policy) CTR and its 95% interval. ``params.json`` section ``click``.
* ``choice`` -> the choice model. The outside option is *estimated* from no-purchase occasions (an occasion with
  no chosen row) when the log has them; only without them is ``outside_share`` assumed. With ``instruments``
  (column names in the shop's file, one value per time and product) prices are corrected by the control function
  and the naive fit is reported beside it. ``params.json`` section ``demand``.
* ``stock`` -> censored demand per product and the lead time (:func:`envs.fit_stock.fit_stock`). ``params.json``
  section ``inventory``, which drives ``retailrl/Inventory-v0``.

``DIR/vocabulary.json`` holds the shop's action ids and slot numbering (:class:`sim_data.vocab.Vocabulary`); the
policies trained on the fit carry it, so every later step speaks the shop's ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from envs.fit import Progress, _noop, fit_choice_log, fit_click_replay, split_bandit_by_time
from sim_data.shop import ShopTable, load_shop_table

KINDS = ("bandit", "choice", "stock")


def instrument_frame(table: ShopTable, columns: Sequence[str]) -> pd.DataFrame:
    """The instruments ``ChoiceModel.fit`` takes: ``time``, ``product`` and the named columns of the shop's file.

    :raises ValueError: naming a column the file lacks, or a (time, product) cell whose instrument values differ.
    """
    absent = [c for c in columns if c not in table.source.columns]
    if absent:
        raise ValueError(f"--instruments: columns {absent} are not in the file; it has {list(table.source.columns)}")
    t = table.log.table
    frame = pd.DataFrame({"time": t["time"].to_numpy(), "product": t["product"].to_numpy()})
    for c in columns:
        values = pd.to_numeric(table.source[c], errors="coerce").to_numpy()
        if pd.isna(values).any():
            rows = pd.isna(values).nonzero()[0]
            raise ValueError(f"instrument column {c!r}: expected numbers, found missing or non-numeric values in "
                             f"rows {rows[:10].tolist()}")
        frame[c] = values
    spread = frame.groupby(["time", "product"])[list(columns)].nunique().max(axis=1)
    if (spread > 1).any():
        cell = spread[spread > 1].index[0]
        raise ValueError(f"instrument columns {list(columns)}: expected one value per (time, product); "
                         f"time {cell[0]!r}, product {cell[1]!r} has several")
    return frame.drop_duplicates(["time", "product"]).reset_index(drop=True)


def fit_file(path: str | Path, kind: str, out: str | Path, mapping: str | Path | None = None,
             instruments: Sequence[str] = (), outside_share: float = 0.5, n_classes: int = 1,
             test_share: float = 0.2, click_kwargs: dict | None = None, progress: Progress = _noop,
             **stock_kwargs) -> dict:
    """Fit one kind of behaviour model from a shop's file and write the fit directory ``out``.

    :param path: a CSV or Parquet file or a directory of Parquet files.
    :param kind: ``bandit``, ``choice`` or ``stock``.
    :param mapping: the shop's mapping file (column names, ids, constants), see :mod:`sim_data.mapping`.
    :param instruments: choice: instrument column names in the shop's file (cost shifters).
    :param outside_share: choice: the no-purchase share, used only when the log has no no-purchase occasions.
    :param n_classes: choice: latent classes.
    :param test_share: the later share of the log held out for fidelity (bandit, choice).
    :param click_kwargs: bandit: arguments of :class:`~envs.models.click.ClickModel`.
    :param stock_kwargs: stock: costs and options of :func:`envs.fit_stock.fit_stock`.
    :return: the fidelity dict written to ``out/fidelity.json`` (``source`` is ``"bandit_file"``,
        ``"choice_file"`` or ``"stock"``; ``file`` names the input).
    :raises ValueError: for a bad table (naming the file, column and rows) before anything is written.
    """
    if kind not in KINDS:
        raise ValueError(f"--kind: expected one of {list(KINDS)}, found {kind!r}")
    if instruments and kind != "choice":
        raise ValueError(f"--instruments: only choice tables take instruments, not {kind}")
    progress(f"reading and validating {path} as a {kind} table")
    table = load_shop_table(path, kind, mapping)
    inst = instrument_frame(table, list(instruments)) if instruments else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = Path(path).name
    if kind == "bandit":
        train, evaluation = split_bandit_by_time(table.log, test_share)
        head = {"source": "bandit_file", "file": str(path), "title": f"bandit log `{name}`",
                "train_policy": f"earliest {1 - test_share:.0%}", "eval_policy": f"latest {test_share:.0%}",
                "vocabulary": table.vocabulary.to_dict()}
        fidelity = fit_click_replay(train, evaluation, out, head, progress=progress, click_kwargs=click_kwargs)
    elif kind == "choice":
        fidelity = fit_choice_log(table.log, out, "choice_file", outside_share=outside_share, n_classes=n_classes,
                                  test_share=test_share, progress=progress, instruments=inst)
    else:
        from envs.fit_stock import fit_stock

        fidelity = fit_stock(table.log, out, progress=progress, test_share=test_share, **stock_kwargs)
    table.vocabulary.save(out)
    return fidelity
