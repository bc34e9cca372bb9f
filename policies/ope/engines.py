"""Where the streaming kernel runs: threads of this process (``local``) or Ray Data tasks on a cluster (``ray``).

Both engines take a function of one :class:`~sim_data.batches.Unit` and the list of units, and return the
function's results **in unit order**, so the caller merges them in the same order whatever ran where: the local and
the Ray engine give bit-for-bit the same merged statistics. A unit that fails on bad data (a ``ValueError``) stops the
run; the error of the first failing unit (in unit order) is raised as it was, naming the file and row.

The Ray engine turns the units into a Ray Dataset (:func:`ray.data.from_items`, one block per unit) and maps the
function over it with :meth:`ray.data.Dataset.map_batches` (one unit per task, at most ``workers`` tasks at a time
(``TaskPoolStrategy(size=workers)``));
results come back pickled. ``address=None`` starts (or joins) a local Ray instance with ``workers`` CPUs;
``address="auto"`` or ``"ray://HOST:10001"`` joins a cluster, whose workers must have retailrl installed.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sim_data.batches import Unit

ENGINES = ("local", "ray")


def run_local(fn: Callable[[Unit], Any], units: Sequence[Unit], workers: int = 1,
              on_done: Callable[[Unit], None] | None = None) -> list[Any]:
    """Run ``fn`` on every unit with ``workers`` threads (numpy and Arrow release the GIL in their loops)."""
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: expected a positive integer, got {workers!r}")

    def one(unit: Unit) -> Any:
        out = fn(unit)
        if on_done is not None:
            on_done(unit)
        return out

    if workers == 1 or len(units) == 1:
        return [one(u) for u in units]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, units))


def _ray_task(fn: Callable[[Unit], Any], units: Sequence[Unit]) -> Callable[[dict], dict]:
    def task(batch: dict) -> dict:
        out = {"unit": [], "payload": [], "failed": []}
        for i in batch["unit"]:
            try:
                result, failed = fn(units[int(i)]), False
            except ValueError as exc:  # bad data: re-raised by the driver, in unit order
                result, failed = exc, True
            out["unit"].append(int(i))
            out["payload"].append(pickle.dumps(result))
            out["failed"].append(failed)
        return out

    return task


def run_ray(fn: Callable[[Unit], Any], units: Sequence[Unit], workers: int = 2, address: str | None = None,
            on_done: Callable[[Unit], None] | None = None) -> list[Any]:
    """Run ``fn`` on every unit as Ray Data tasks (see the module); results in unit order."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ValueError("--engine ray needs Ray Data: pip install 'retailrl[ray]' (ray[data])") from None
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: expected a positive integer, got {workers!r}")
    if not ray.is_initialized():
        if address is None:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = True
    dataset = ray.data.from_items([{"unit": u.index} for u in units], override_num_blocks=len(units))
    mapped = dataset.map_batches(_ray_task(fn, list(units)), batch_size=1, num_cpus=1, batch_format="numpy",
                                 compute=ray.data.TaskPoolStrategy(size=workers))
    results: dict[int, Any] = {}
    errors: dict[int, ValueError] = {}
    for row in mapped.iter_rows():
        i = int(row["unit"])
        (errors if row["failed"] else results)[i] = pickle.loads(row["payload"])
        if on_done is not None:
            on_done(units[i])
    if errors:
        raise errors[min(errors)]
    return [results[u.index] for u in units]


def run_units(fn: Callable[[Unit], Any], units: Sequence[Unit], *, engine: str = "local", workers: int = 1,
              address: str | None = None, on_done: Callable[[Unit], None] | None = None) -> list[Any]:
    """Run ``fn`` over ``units`` on ``engine`` (``local`` or ``ray``); results in unit order."""
    if engine == "local":
        if address is not None:
            raise ValueError("--ray-address is for --engine ray")
        return run_local(fn, units, workers, on_done)
    if engine == "ray":
        return run_ray(fn, units, workers, address, on_done)
    raise ValueError(f"engine: expected one of {ENGINES}, got {engine!r}")
