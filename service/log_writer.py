"""Durable, batched writes of the decision and reward logs: a request is acknowledged only once its row is committed.

Handlers call :meth:`LogWriter.decision` / :meth:`LogWriter.reward` and await the result. One writer task per
process takes everything queued (up to ``batch_max`` rows), commits decisions in one transaction and rewards in
another (in a worker thread, so the event loop keeps serving), and only then resolves each request's future
(group commit: while one batch commits, the next one fills). When a batch fails, its rows are retried one by one,
so only the row that cannot be stored fails (the API answers 503: not stored); a 2xx always means stored.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from policies.registry import Registry
from policies.registry.log_records import STORED, DecisionRow, RewardRow

log = logging.getLogger("retailrl.service")


class LogWriterClosed(RuntimeError):
    """The writer is stopping: nothing more is accepted."""


class LogWriter:
    """The process's single writer of the decision and reward logs.

    :param registry: where to write.
    :param batch_max: most rows per transaction.
    :param batch_wait_s: how long to wait for more rows once one arrived (0: commit what is queued at once).
    :param metrics: optional :class:`service.metrics.Metrics`.
    """

    def __init__(self, registry: Registry, batch_max: int = 256, batch_wait_s: float = 0.0, metrics: Any = None):
        if batch_max < 1:
            raise ValueError(f"batch_max: expected a whole number >= 1, found {batch_max!r}")
        self.registry = registry
        self.batch_max = int(batch_max)
        self.batch_wait_s = float(batch_wait_s)
        self.metrics = metrics
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._closing = False

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="retailrl-log-writer")

    async def stop(self) -> None:
        """Commit everything queued, then stop."""
        self._closing = True
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None

    async def _submit(self, kind: str, row: Any) -> Any:
        if self._closing or self._queue is None:
            raise LogWriterClosed("the server is shutting down; retry")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((kind, row, future))
        return await future

    async def decision(self, row: DecisionRow) -> bool:
        """Store a decision; ``True`` once committed, ``False`` when its event_id was already logged."""
        return await self._submit("decision", row)

    async def reward(self, row: RewardRow) -> str:
        """Store a reward; the outcome of :meth:`Registry.log_rewards` once committed."""
        return await self._submit("reward", row)

    async def _run(self) -> None:
        queue = self._queue
        stopping = False
        while not stopping:
            item = await queue.get()
            batch = []
            if item is None:
                stopping = True
            else:
                batch.append(item)
                if self.batch_wait_s > 0 and queue.qsize() < self.batch_max:
                    await asyncio.sleep(self.batch_wait_s)
            while len(batch) < self.batch_max and not queue.empty():
                nxt = queue.get_nowait()
                if nxt is None:
                    stopping = True
                    continue
                batch.append(nxt)
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list) -> None:
        decisions = [b for b in batch if b[0] == "decision"]
        rewards = [b for b in batch if b[0] == "reward"]
        for kind, items, write in (("decision", decisions, self.registry.log_decisions),
                                   ("reward", rewards, self.registry.log_rewards)):
            if not items:
                continue
            try:
                results = await asyncio.to_thread(write, [row for _, row, _ in items])
            except Exception as exc:
                if len(items) > 1:  # one bad row must not fail the others: commit them one by one
                    for item in items:
                        await self._commit([item])
                    continue
                log.error("committing a %s row failed: %s", kind, exc)
                if self.metrics is not None:
                    self.metrics.log_errors.labels(kind).inc()
                if not items[0][2].done():
                    items[0][2].set_exception(exc)
                continue
            if self.metrics is not None:
                self.metrics.batch_size.labels(kind).observe(len(items))
            for (_, _, future), result in zip(items, results, strict=True):
                if self.metrics is not None:
                    if kind == "decision" and result:
                        self.metrics.decision_stored()
                    elif kind == "reward" and result == STORED:
                        self.metrics.reward_stored()
                if not future.done():
                    future.set_result(result)
