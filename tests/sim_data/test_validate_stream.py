"""`validate_log_files`: a Parquet directory checked batch by batch, duplicates counted across batches on disk."""

from __future__ import annotations

import numpy as np
import pytest

from sim_data.batches import plan_units, resolve_log_files
from sim_data.synthetic import make_click_world
from sim_data.validate_stream import validate_log_files


@pytest.fixture()
def logs(tmp_path):
    log, _ = make_click_world(3000, n_actions=5, n_positions=2, n_features=2, logging="uniform", seed=4)
    for i, rows in enumerate(np.array_split(np.arange(len(log)), 3)):
        log.table.iloc[rows].to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    return tmp_path, log.table


def test_a_valid_directory_summarises_the_whole_log(logs):
    path, table = logs
    out = validate_log_files(path, batch_size=256)
    assert out.valid and out.n_rows == 3000 and out.duplicate_rows == 0
    assert out.summary["n_actions"] == 5 and out.summary["mean_reward"] == pytest.approx(table["reward"].mean())


@pytest.mark.parametrize("rows_per_partition", [100, 10_000_000])
def test_duplicates_across_files_and_bad_rows_are_named_by_file_and_row(logs, rows_per_partition):
    path, table = logs
    bad = table.iloc[:40].copy()  # 40 ids that already occur in part-0 rows 0..39
    bad.loc[bad.index[5], "propensity"] = 0.0
    bad.to_parquet(path / "part-3.parquet", index=False)
    out = validate_log_files(path, batch_size=64, rows_per_partition=rows_per_partition)
    assert not out.valid and out.duplicate_rows == 80
    text = out.report()
    assert "part-3.parquet: column 'propensity'" in text and "rows 5" in text
    assert "80 rows whose id occurs more than once (first: part-0.parquet row 0" in text


def test_rows_of_later_batches_are_rows_of_their_file(logs):
    path, table = logs
    bad = table.iloc[:1000].copy()
    bad.loc[bad.index[777], "action"] = -3
    bad["event_id"] = [f"x{i}" for i in range(1000)]
    bad.to_parquet(path / "part-3.parquet", index=False, row_group_size=100)
    out = validate_log_files(path, batch_size=50)
    assert [str(p.problem.rows) for p in out.problems] == ["(777,)"]
    assert out.problems[0].path.endswith("part-3.parquet")


def test_mixed_known_and_unknown_propensities_across_files(logs):
    path, table = logs
    unknown = table.iloc[:10].copy()
    unknown["propensity"] = np.nan
    unknown["event_id"] = [f"u{i}" for i in range(10)]
    unknown.to_parquet(path / "part-3.parquet", index=False)
    out = validate_log_files(path)
    assert out.n_problems == 1 and "NaN at" in out.report() and "part-3.parquet row 0" in out.report()


def test_units_number_rows_in_sorted_file_order(logs):
    path, _ = logs
    units = plan_units(resolve_log_files(path), unit_rows=1)
    assert [u.start for u in units] == [0, 1000, 2000] and all(u.file_start == 0 for u in units)
    (path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="without Parquet files"):
        resolve_log_files(path / "empty")
