"""kill -9 during heavy ingest loses no message whose put() had returned, on both backends.

A worker process (ingest_worker.py) puts 2 KiB messages in batches of 200 and prints how many
are stored after each put() returns. We SIGKILL it at a random moment mid-ingest, reopen the
archive and check: it opens cleanly, every reported message is there byte for byte, batches
are all-or-nothing, and the running count matches the rows. Three kill/reopen rounds per
backend, each resuming where the last stored message left off.
"""

from __future__ import annotations

import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from w3msg_libp2p.protocols.store.archive import ArchiveQuery
from w3msg_libp2p.protocols.store.open_archive import open_archive

from .ingest_worker import message

WORKER = Path(__file__).with_name("ingest_worker.py")
BATCH = 200
ROUNDS = 3
PER_ROUND = 3000  # messages reported stored before the kill (at least)
TIMEOUT = 60.0


class Worker:
    def __init__(self, url: str, data_dir: Path, start: int, stderr: Path) -> None:
        self.stderr = stderr
        with open(stderr, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, str(WORKER), url, str(data_dir), str(start), str(BATCH)],
                                         stdout=subprocess.PIPE, stderr=err, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def next_line(self) -> str:
        try:
            line = self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail(f"worker silent for {TIMEOUT} s; stderr: {self.stderr.read_text()[-2000:]}")
        if line is None:
            pytest.fail(f"worker exited early ({self.proc.wait()}); stderr: {self.stderr.read_text()[-2000:]}")
        return line

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=TIMEOUT)

    def remaining_lines(self) -> list[str]:
        """Lines printed before the kill that we had not read yet (the reader ends at EOF)."""
        lines = []
        while (line := self.lines.get(timeout=TIMEOUT)) is not None:
            lines.append(line)
        return lines


def stored_number(line: str) -> int:
    word, number = line.split()
    assert word == "stored", line
    return int(number)


def ingest_and_kill(url: str, data_dir: Path, start: int, stderr: Path, rng: random.Random) -> int:
    """Run a worker from ``start``, SIGKILL it mid-ingest; return the highest count it reported."""
    worker = Worker(url, data_dir, start, stderr)
    try:
        assert worker.next_line() == "ready"
        reported = start
        while reported < start + PER_ROUND:
            reported = stored_number(worker.next_line())
        time.sleep(rng.uniform(0, 0.02))  # land the kill anywhere in the next batches
    finally:
        worker.kill()
    assert worker.proc.returncode == -signal.SIGKILL, "the worker was not killed mid-ingest"
    for line in worker.remaining_lines():
        reported = stored_number(line)
    return reported


def check_archive(url: str, data_dir: Path, reported: int) -> int:
    """Reopen after the kill and check every reported message; returns how many are stored."""
    archive = open_archive(url, data_dir)
    try:
        count = archive.count()
        assert count >= reported, f"{reported} messages were reported stored, only {count} survived"
        assert count % BATCH == 0, f"{count} stored: a batch was committed in part"
        for first in range(0, count, 100):
            expected = [message(i) for i in range(first, min(first + 100, count))]
            page = archive.query(ArchiveQuery(hashes=tuple(m.hash for m in expected), limit=100))
            assert page.messages == expected, f"messages {first}..{first + 99} missing or altered"
        rows = sum(len(archive.query(ArchiveQuery(time_start=t, time_end=t + 999, limit=1000,
                                                  include_data=False)).messages)
                   for t in range(message(0).timestamp, message(count).timestamp + 1000, 1000))
        assert rows == count, "the running count disagrees with the rows stored"
    finally:
        archive.close()
    return count


def test_kill_9_during_ingest_loses_no_reported_message(store_url: str, tmp_path: Path) -> None:
    rng = random.Random(3)
    stored = 0
    for round_ in range(ROUNDS):
        reported = ingest_and_kill(store_url, tmp_path, stored, tmp_path / f"worker{round_}.stderr", rng)
        stored = check_archive(store_url, tmp_path, reported)
    assert stored >= ROUNDS * PER_ROUND
    if store_url.startswith("sqlite"):
        path = store_url.removeprefix("sqlite://")
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
