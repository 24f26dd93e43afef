"""The store service on a node: archives what the relay delivers and answers store v3 queries.

A thin trio adapter around the pure parts: ``ingest`` (what is stored, the bounded queue) and
``server`` (query -> archive -> response). The archive blocks, so every call to it runs in a
worker thread; writes (batches, retention) go through one CapacityLimiter(1), so a single
writer ever touches the database.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import trio

from ...core.message import Envelope
from ...net.reqresp import RequestResponseProtocol, RequestResponseServer
from ...node.service_config import StoreConfig
from .archive import Archive, RetentionPolicy
from .codec import MAX_QUERY_BYTES
from .ingest import DEFAULT_MAX_BATCH, DEFAULT_QUEUE_CAPACITY, IngestQueue, retention_policy, stored_messages
from .rpc import STORE_PROTOCOL_ID, StoreQuery, StoreResponse, StoreStatus
from .server import StoreLimits, StoreServer, refusal

if TYPE_CHECKING:
    from ...node.node import Node

log = logging.getLogger(__name__)

WRITE_RETRY_DELAYS = (0.1, 0.5, 2.0)  # then the batch is given up (counted as lost)
CLOSE_TIMEOUT = 10.0  # for writing what is still queued when the node stops
QUERY_THREADS = 2


class StoreService:
    def __init__(self, node: Node, config: StoreConfig, *, queue_capacity: int = DEFAULT_QUEUE_CAPACITY,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.node = node
        self.config = config
        self.core = StoreServer(StoreLimits(default_page_size=config.default_page_size,
                                            max_page_size=config.max_page_size))
        self.queue = IngestQueue(queue_capacity, max_batch)
        self.archive: Archive | None = None
        self.server = RequestResponseServer(node.host, RequestResponseProtocol(
            (STORE_PROTOCOL_ID,), self.handle, self.refuse, MAX_QUERY_BYTES, rate_limit=config.rate_limit))
        self.policy: RetentionPolicy = retention_policy(config.max_age, config.max_messages, config.max_bytes)
        self._write_limiter = trio.CapacityLimiter(1)
        self._query_limiter = trio.CapacityLimiter(QUERY_THREADS)
        self._wake = trio.Event()
        self._writing = 0
        self.write_batches = 0
        self.retention_runs = 0
        self.retention_deleted = 0
        self.retention_failures = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        from .open_archive import open_archive  # the backends load only when a store is configured

        data_dir = self.node.config.resolved_data_dir
        self.archive = await trio.to_thread.run_sync(open_archive, self.config.url, data_dir)
        relay = self.node.relay
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer)
                if any(v is not None for v in (self.policy.max_age_ns, self.policy.max_messages,
                                               self.policy.max_bytes)):
                    nursery.start_soon(self._retention)
                if relay is not None:
                    relay.tracers.append(self._on_relayed)
                self.server.mount()
                task_status.started()
        finally:
            if relay is not None and self._on_relayed in relay.tracers:
                relay.tracers.remove(self._on_relayed)
            with trio.CancelScope(shield=True):
                await self._close()

    async def _close(self) -> None:
        """Write what is still queued (bounded in time), then close the archive."""
        with trio.move_on_after(CLOSE_TIMEOUT):
            while len(self.queue):
                await self._write(self.queue.take_batch(), retry=False)
        if len(self.queue):
            log.warning("store: %d queued messages were not written before shutdown", len(self.queue))
        archive, self.archive = self.archive, None
        if archive is not None:
            await trio.to_thread.run_sync(archive.close, limiter=self._write_limiter)

    # -- ingest ------------------------------------------------------------------------------------
    def _on_relayed(self, env: Envelope) -> None:
        """Relay tracer: O(1), never blocks; a full queue drops the message and counts it."""
        if self.queue.offer(env):
            self._wake.set()
        elif not env.message.ephemeral and self.node.relay is not None:
            self.node.relay.router.drop("store_queue_full")

    async def _writer(self) -> None:
        while True:
            if not len(self.queue):
                self._wake = trio.Event()
                await self._wake.wait()
            await self._write(self.queue.take_batch())

    async def _write(self, batch: list[Envelope], retry: bool = True) -> None:
        archive = self.archive
        if archive is None or not batch:
            return
        self._writing = len(batch)
        try:
            for delay in (*WRITE_RETRY_DELAYS, None) if retry else (None,):
                try:
                    new = await trio.to_thread.run_sync(
                        lambda: archive.put(stored_messages(batch)), limiter=self._write_limiter)
                except Exception as exc:  # the backend's errors: logged, retried, then counted as lost
                    if delay is None:
                        log.error("store: %d messages lost, the archive refused them: %s", len(batch), exc)
                        self.queue.record_failure(len(batch))
                        if self.node.relay is not None:
                            self.node.relay.router.drop("store_write_failed", len(batch))
                        return
                    log.warning("store: writing %d messages failed (%s); retrying in %.1f s", len(batch), exc, delay)
                    await trio.sleep(delay)
                else:
                    self.write_batches += 1
                    self.queue.record_write(len(batch), new)
                    return
        finally:
            self._writing = 0

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Until everything queued so far has been written (for tests and orderly handovers)."""
        with trio.fail_after(timeout):
            while len(self.queue) or self._writing:
                await trio.sleep(0.005)

    # -- retention ---------------------------------------------------------------------------------
    async def _retention(self) -> None:
        while True:
            await self.apply_retention()
            await trio.sleep(self.config.retention_interval)

    async def apply_retention(self) -> int:
        archive = self.archive
        if archive is None:
            return 0
        try:
            deleted = await trio.to_thread.run_sync(
                archive.apply_retention, self.policy, time.time_ns(), limiter=self._write_limiter)
        except Exception:  # counted and logged; the next run tries again
            self.retention_failures += 1
            log.exception("store: retention run failed")
            return 0
        self.retention_runs += 1
        self.retention_deleted += deleted
        return deleted

    # -- queries -----------------------------------------------------------------------------------
    async def handle(self, peer: str, request: bytes) -> bytes:
        """The libp2p handler (and any other transport's): request bytes -> response bytes.
        Decoding, the archive query and encoding all run in a worker thread."""
        archive = self.archive
        if archive is None:
            response = refusal(StoreStatus.SERVICE_UNAVAILABLE, "store is not running")
            data = self.core.encode(response)
        else:
            def respond() -> tuple[StoreResponse, bytes]:
                response = self.core.handle(request, archive.query)
                return response, self.core.encode(response)

            response, data = await trio.to_thread.run_sync(respond, limiter=self._query_limiter)
        if not response.ok:
            self.server.stats.refusals[f"status_{response.status_code}"] += 1
            log.debug("store: refused %s: %s", peer, response.status_desc)
        return data

    def refuse(self, status: int, description: str) -> bytes:
        """Refusals made before the request is parsed (size, rate limit, timeout)."""
        return self.core.encode(refusal(status, description))

    async def execute(self, query: StoreQuery) -> StoreResponse:
        """Run a parsed query on our own archive (the REST API without peerAddr)."""
        archive = self.archive
        if archive is None:
            return refusal(StoreStatus.SERVICE_UNAVAILABLE, "store is not running", query.request_id)
        return await trio.to_thread.run_sync(self.core.execute, query, archive.query, limiter=self._query_limiter)

    # -- introspection -----------------------------------------------------------------------------
    def statistics(self) -> dict[str, Any]:
        s = self.queue.stats
        return {
            "stored": s.stored,
            "duplicates": s.duplicates,
            "ephemeral_skipped": s.ephemeral,
            "queue_depth": len(self.queue),
            "queue_capacity": self.queue.capacity,
            "write_batches": self.write_batches,
            "drops": {"store_queue_full": s.queue_full, "store_write_failed": s.lost},
            "retention": {"runs": self.retention_runs, "deleted": self.retention_deleted,
                          "failures": self.retention_failures},
            **self.server.stats.as_dict(),
        }
