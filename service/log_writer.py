"""Durable, batched writes of the decision and reward logs: a request is acknowledged only once its row is committed.

Handlers call :meth:`LogWriter.decision` / :meth:`LogWriter.reward` and await the result. One writer task per
process takes everything queued (up to ``batch_max`` rows), writes decisions and rewards in **one** transaction
(:class:`service.log_store.LogStore`) and only then resolves each request's future: group commit, while one
batch commits the next one fills. On SQLite the transaction is first tried right on the event loop without
waiting for the write lock (cheaper than a thread hop); when the lock is taken, and always on PostgreSQL, it
runs on the writer's own thread so the event loop keeps serving. The same thread checkpoints SQLite's WAL every
``checkpoint_s`` seconds while rows are being written.

When a batch fails, none of its rows is acknowledged. If the database is unavailable or busy past the store's
timeout, every request of the batch fails (the API answers 503: not stored); otherwise (a row the database
refuses) the rows are retried one transaction each, so only the row that cannot be stored fails. A 2xx always
means stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from policies.registry.log_records import STORED, RewardRow
from service.log_store import Busy, DecisionEntry, LogStore, is_disconnect

log = logging.getLogger("retailrl.service")


class LogWriterClosed(RuntimeError):
    """The writer is stopping: nothing more is accepted."""


class LogWriter:
    """The process's single writer of the decision and reward logs.

    :param store: where to write (used from the writer's thread only).
    :param batch_max: most rows per transaction.
    :param batch_wait_s: how long to wait for more rows once one arrived (0: commit what is queued at once).
    :param metrics: optional :class:`service.metrics.Metrics`.
    :param checkpoint_s: how often SQLite's WAL is checkpointed while rows are written.
    """

    def __init__(self, store: LogStore, batch_max: int = 256, batch_wait_s: float = 0.0, metrics: Any = None,
                 checkpoint_s: float = 1.0):
        if batch_max < 1:
            raise ValueError(f"batch_max: expected a whole number >= 1, found {batch_max!r}")
        if not checkpoint_s > 0:
            raise ValueError(f"checkpoint_s: expected a number > 0, found {checkpoint_s!r}")
        self.store = store
        self.batch_max = int(batch_max)
        self.batch_wait_s = float(batch_wait_s)
        self.metrics = metrics
        self.checkpoint_s = float(checkpoint_s)
        self.written = 0  # rows committed (the checkpoint loop runs when it moved)
        self._queue: asyncio.Queue | None = None
        self._tasks: list[asyncio.Task] = []
        self._thread: ThreadPoolExecutor | None = None
        self._closing = False

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="retailrl-log-writer")
        self._tasks = [asyncio.create_task(self._run(), name="retailrl-log-writer")]
        if self.store.sqlite:
            self._tasks.append(asyncio.create_task(self._checkpoints(), name="retailrl-wal-checkpoint"))

    async def stop(self) -> None:
        """Commit everything queued, then stop and close the store."""
        self._closing = True
        if self._tasks:
            await self._queue.put(None)
            await self._tasks[0]
            for task in self._tasks[1:]:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._tasks = []
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self.store.close)
            self._thread.shutdown()
            self._thread = None

    async def _submit(self, item: DecisionEntry | RewardRow) -> Any:
        if self._closing or self._queue is None:
            raise LogWriterClosed("the server is shutting down; retry")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def decision(self, entry: DecisionEntry) -> bool:
        """Store a decision; ``True`` once committed, ``False`` when its event_id was already logged."""
        return await self._submit(entry)

    async def reward(self, row: RewardRow) -> str:
        """Store a reward; its outcome (:data:`~policies.registry.log_records.REWARD_OUTCOMES`) once committed."""
        return await self._submit(row)

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
                if queue.qsize() < self.batch_max:  # let requests already in hand queue their rows too
                    await asyncio.sleep(self.batch_wait_s)
            while len(batch) < self.batch_max and not queue.empty():
                nxt = queue.get_nowait()
                if nxt is None:
                    stopping = True
                    continue
                batch.append(nxt)
            if batch:
                await self._commit(batch)

    async def _checkpoints(self) -> None:
        loop = asyncio.get_running_loop()
        done = 0
        while True:
            await asyncio.sleep(self.checkpoint_s)
            if self.written == done:
                continue
            done = self.written
            try:
                await loop.run_in_executor(self._thread, self.store.checkpoint)
            except Exception as exc:  # the next round tries again; the WAL only grows meanwhile
                log.warning("WAL checkpoint failed: %s: %s", type(exc).__name__, exc)

    async def _write(self, decisions: list, rewards: list) -> tuple[list[bool], list[str]]:
        if self.store.can_write_now:
            try:
                return self.store.write_now(decisions, rewards)
            except Busy:  # another connection writes: wait for the lock off the event loop
                if self.metrics is not None:
                    self.metrics.lock_waits.inc()
        return await asyncio.get_running_loop().run_in_executor(self._thread, self.store.write, decisions, rewards)

    async def _commit(self, batch: list) -> None:
        decisions = [b for b in batch if isinstance(b[0], DecisionEntry)]
        rewards = [b for b in batch if not isinstance(b[0], DecisionEntry)]
        try:
            stored, outcomes = await self._write([e for e, _ in decisions], [r for r, _ in rewards])
        except Exception as exc:
            if len(batch) > 1 and not is_disconnect(exc):  # one bad row must not fail the others
                for item in batch:
                    await self._commit([item])
                return
            log.error("committing a batch of %d log rows failed: %s: %s", len(batch), type(exc).__name__, exc)
            if self.metrics is not None:
                for kind, items in (("decision", decisions), ("reward", rewards)):
                    if items:
                        self.metrics.log_errors.labels(kind).inc()
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.written += len(batch)
        if self.metrics is not None:
            for kind, items in (("decision", decisions), ("reward", rewards)):
                if items:
                    self.metrics.batch_size.labels(kind).observe(len(items))
            self.metrics.stored(sum(stored), sum(o == STORED for o in outcomes))
        for (_, future), result in zip(decisions, stored, strict=True):
            if not future.done():
                future.set_result(result)
        for (_, future), result in zip(rewards, outcomes, strict=True):
            if not future.done():
                future.set_result(result)
