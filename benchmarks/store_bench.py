"""Store archive benchmark: ingest and query speed of the SQLite and PostgreSQL backends.

Prints ONE JSON line on stdout (progress on stderr with -v). Method and figures:
docs/store-archive.md. Usage: ``make bench-store [ARGS="--messages 100000"]``.

Workload: N messages (default 1,000,000) on 4 pubsub topics, 20 content topics of Zipf-like
popularity (each on one pubsub topic, as autosharding places them), payloads of 100-1000 random
bytes, timestamps 10 ms apart; serialized and hashed by w3msg's own codec. Ingest is put() in
batches (default 500), as the store service batches what relay delivers; only put() is timed.
Then 20-message page queries by pubsub topic + content topic + a one-hour time range, following
cursors for 5 pages, forward and backward, and single-hash lookups.
Baselines, measured in the same run on the same database: ingest with one message per
transaction, and (SQLite) the same page queries forced onto the timestamp index, which is all
an archive without topic indexes (nwaku's SQLite schema: primary key + timestamp) can use, and
forced to scan the table (no supporting index; a few sessions only, it is slow).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w3msg_libp2p.core.codec import encode_message
from w3msg_libp2p.core.errors import ConfigError
from w3msg_libp2p.core.message import WakuMessage, message_hash
from w3msg_libp2p.protocols.store import sql
from w3msg_libp2p.protocols.store.archive import Archive, ArchiveQuery, RetentionPolicy, StoredMessage
from w3msg_libp2p.protocols.store.open_archive import open_archive
from w3msg_libp2p.protocols.store.sqlite_archive import SqliteArchive

ROOT = Path(__file__).resolve().parents[1]
SERVER_SCRIPT = ROOT / "scripts" / "postgres-test-server.sh"
PUBSUB_TOPICS = [f"/waku/2/rs/1/{shard}" for shard in range(4)]
CONTENT_TOPICS = [f"/bench/1/topic-{i:02d}/proto" for i in range(20)]
WEIGHTS = [1 / (i + 1) for i in range(len(CONTENT_TOPICS))]  # Zipf: topic 0 is 20x topic 19
STEP_NS = 10_000_000  # 100 messages/s of history
START_NS = 1_700_000_000_000_000_000
WINDOW_NS = 3600 * 10**9
PAGE = 20
PAGES_PER_SESSION = 5
TARGETS = {"ingest_msgs_per_s": 10_000, "page_p50_ms": 5.0, "page_p99_ms": 20.0}
# SQLite page-query baselines: (name, hint, 1/share of the sessions run)
BASELINE_HINTS = (("time_index_only", "INDEXED BY store_time_idx", 4), ("no_index", "NOT INDEXED", 200))
VERBOSE = False


def log(text: str) -> None:
    if VERBOSE:
        print(f"[bench-store {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def pubsub_of(topic_index: int) -> str:
    return PUBSUB_TOPICS[topic_index % len(PUBSUB_TOPICS)]


def generate(count: int, batch: int, seed: int) -> list[list[StoredMessage]]:
    rng = random.Random(seed)
    noise = rng.randbytes(1 << 20)
    topics = rng.choices(range(len(CONTENT_TOPICS)), WEIGHTS, k=count)
    batches, current = [], []
    for i, topic in enumerate(topics):
        size = rng.randint(100, 1000)
        offset = rng.randrange(len(noise) - size)
        waku = WakuMessage(payload=noise[offset:offset + size], content_topic=CONTENT_TOPICS[topic], version=0,
                           timestamp=START_NS + i * STEP_NS)
        pubsub = pubsub_of(topic)
        current.append(StoredMessage(hash=message_hash(pubsub, waku), pubsub_topic=pubsub,
                                     content_topic=waku.content_topic, timestamp=START_NS + i * STEP_NS,
                                     data=encode_message(waku)))
        if len(current) == batch:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return batches


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    if not ms:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "n": 0}
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return {"p50_ms": round(statistics.median(ms), 3), "p99_ms": round(p99, 3), "n": len(ms)}


def ingest(archive: Archive, batches: list[list[StoredMessage]]) -> float:
    spent = 0.0
    for n, batch in enumerate(batches):
        t0 = time.perf_counter()
        archive.put(batch)
        spent += time.perf_counter() - t0
        if n % 200 == 0:
            log(f"ingested {n * len(batches[0])} messages")
    return spent


def naive_ingest(archive: Archive, count: int, seed: int) -> float:
    """One message per put(), i.e. per transaction: what an archive that stores each relayed
    message as it arrives does. New messages (later timestamps) into the full database."""
    messages = [m for batch in generate(count, count, seed + 1) for m in batch]
    messages = [StoredMessage(hash=os.urandom(32), pubsub_topic=m.pubsub_topic, content_topic=m.content_topic,
                              timestamp=m.timestamp + 10**15, data=m.data) for m in messages]
    t0 = time.perf_counter()
    for m in messages:
        archive.put([m])
    return count / (time.perf_counter() - t0)


@dataclass
class Session:
    pubsub: str
    topic: str
    start: int
    end: int


def sessions(count: int, total: int, seed: int) -> list[Session]:
    rng = random.Random(seed)
    span = max(total * STEP_NS - WINDOW_NS, 1)
    out = []
    for _ in range(count):
        topic = rng.choices(range(len(CONTENT_TOPICS)), WEIGHTS)[0]
        start = START_NS + rng.randrange(span)
        out.append(Session(pubsub_of(topic), CONTENT_TOPICS[topic], start, start + WINDOW_NS))
    return out


PageRunner = Callable[[ArchiveQuery], Any]


def page_latencies(run: PageRunner, plan: list[Session], forward: bool) -> dict[str, float]:
    """Each session: first page of its window, then follow cursors; every page is one sample."""
    samples, returned = [], 0
    for s in plan:
        cursor = None
        for _ in range(PAGES_PER_SESSION):
            query = ArchiveQuery(pubsub_topic=s.pubsub, content_topics=(s.topic,), time_start=s.start,
                                 time_end=s.end, cursor=cursor, forward=forward, limit=PAGE)
            t0 = time.perf_counter()
            page = run(query)
            samples.append(time.perf_counter() - t0)
            returned += len(page.messages)
            cursor = page.cursor
            if cursor is None:
                break
    return {**percentiles(samples), "mean_messages": round(returned / max(len(samples), 1), 2)}


def hash_latencies(archive: Archive, batches: list[list[StoredMessage]], count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        batch = batches[rng.randrange(len(batches))]
        wanted = batch[rng.randrange(len(batch))]
        t0 = time.perf_counter()
        page = archive.query(ArchiveQuery(hashes=(wanted.hash,)))
        samples.append(time.perf_counter() - t0)
        assert page.messages == [wanted], "hash lookup returned the wrong message"
    return samples


def hinted_runner(archive: SqliteArchive, hint: str) -> PageRunner:
    """The same page queries with an SQLite index hint on the messages table:
    "INDEXED BY store_time_idx" (what an archive with only a timestamp index can do, like nwaku's
    SQLite schema) or "NOT INDEXED" (a full scan: no supporting index at all)."""
    conn = archive._conn

    def run(query: ArchiveQuery) -> Any:
        cursor_ts = None
        if query.cursor is not None:
            cursor_ts = conn.execute(f"SELECT timestamp FROM {sql.TABLE} WHERE hash = ?", (query.cursor,)).fetchone()[0]
        statement, params = sql.page_query(query, cursor_ts, "?")
        statement = statement.replace(f"FROM {sql.TABLE}", f"FROM {sql.TABLE} {hint}", 1)
        return sql.make_page(conn.execute(statement, params).fetchall(), query)

    return run


def run_backend(name: str, archive: Archive, batches: list[list[StoredMessage]], args: argparse.Namespace,
                size_of: Callable[[], int]) -> dict[str, Any]:
    total = sum(len(b) for b in batches)
    log(f"{name}: ingesting {total} messages in batches of {args.batch}")
    spent = ingest(archive, batches)
    assert archive.count() == total, (archive.count(), total)
    result: dict[str, Any] = {"ingest_msgs_per_s": round(total / spent), "ingest_s": round(spent, 4)}
    plan = sessions(args.sessions, total, args.seed)
    log(f"{name}: page queries")
    for direction, forward in (("forward", True), ("backward", False)):
        result[f"page_{direction}"] = page_latencies(archive.query, plan, forward)
    result["hash_lookup"] = percentiles(hash_latencies(archive, batches, args.lookups, args.seed))
    result["stored_bytes"] = archive.stored_bytes()
    result["database_bytes"] = size_of()
    baseline: dict[str, Any] = {}
    log(f"{name}: baselines")
    baseline["ingest_one_per_transaction_msgs_per_s"] = round(naive_ingest(archive, args.naive, args.seed))
    if isinstance(archive, SqliteArchive):
        for name_, hint, share in BASELINE_HINTS:
            runner, small_plan = hinted_runner(archive, hint), plan[: max(1, args.sessions // share)]
            for direction, forward in (("forward", True), ("backward", False)):
                baseline[f"page_{direction}_{name_}"] = page_latencies(runner, small_plan, forward)
    result["baseline"] = baseline
    before = archive.count()
    t0 = time.perf_counter()
    deleted = archive.apply_retention(RetentionPolicy(max_messages=before - before // 10), now_ns=0)
    result["retention_delete_10pct_s"] = round(time.perf_counter() - t0, 3)
    result["retention_deleted"] = deleted
    return result


@contextmanager
def postgres_database(url: str | None) -> Iterator[str]:
    """A fresh schema in ``url`` (or in a throwaway server we start and stop) for one run."""
    import psycopg

    env = {**os.environ, "W3MSG_PG_STATE": str(Path(tempfile.mkdtemp(prefix="w3msg-bench-pg-")) / "state")}
    started = False
    try:
        if url is None:
            log("starting a PostgreSQL test server")
            done = subprocess.run(["bash", str(SERVER_SCRIPT), "start"], env=env, capture_output=True, text=True,
                                  timeout=900, check=False)
            started = True
            if done.returncode != 0:
                raise ConfigError(f"postgres-test-server.sh start failed: {done.stderr.strip()[-500:]}")
            url = done.stdout.strip().splitlines()[-1]
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
        try:
            yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]
    finally:
        if started:
            subprocess.run(["bash", str(SERVER_SCRIPT), "stop"], env=env, capture_output=True, timeout=120,
                           check=False)


def bench_sqlite(batches: list[list[StoredMessage]], args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="w3msg-bench-store-", dir=args.tmp_dir) as tmp:
        path = Path(tmp) / "store.sqlite3"
        archive = SqliteArchive(path)
        try:
            def size() -> int:
                return sum(p.stat().st_size for p in Path(tmp).iterdir())
            return run_backend("sqlite", archive, batches, args, size)
        finally:
            archive.close()


def bench_postgres(batches: list[list[StoredMessage]], args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    with postgres_database(args.postgres_url) as url:
        archive = open_archive(url, Path(tempfile.gettempdir()))
        try:
            def size() -> int:
                with psycopg.connect(url) as conn:
                    row = conn.execute(f"SELECT pg_total_relation_size('{sql.TABLE}')").fetchone()  # type: ignore[arg-type]
                return int(row[0]) if row else 0
            return run_backend("postgres", archive, batches, args, size)
        finally:
            archive.close()


def targets_met(sqlite: dict[str, Any] | None) -> dict[str, bool | None]:
    if sqlite is None or "error" in sqlite:
        return {"sqlite_ingest_ge_10000": None, "sqlite_page_p50_le_5ms": None, "sqlite_page_p99_le_20ms": None}
    pages = (sqlite["page_forward"], sqlite["page_backward"])
    return {
        "sqlite_ingest_ge_10000": sqlite["ingest_msgs_per_s"] >= TARGETS["ingest_msgs_per_s"],
        "sqlite_page_p50_le_5ms": all(p["p50_ms"] <= TARGETS["page_p50_ms"] for p in pages),
        "sqlite_page_p99_le_20ms": all(p["p99_ms"] <= TARGETS["page_p99_ms"] for p in pages),
    }


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Store archive benchmark (one JSON line on stdout)")
    parser.add_argument("--messages", type=positive, default=1_000_000, help="messages ingested (1000000)")
    parser.add_argument("--batch", type=positive, default=500, help="messages per put() (500)")
    parser.add_argument("--sessions", type=positive, default=400,
                        help=f"query sessions per direction, up to {PAGES_PER_SESSION} pages each (400)")
    parser.add_argument("--lookups", type=positive, default=2000, help="single-hash lookups (2000)")
    parser.add_argument("--naive", type=positive, default=3000, help="messages in the one-per-transaction baseline")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    parser.add_argument("--postgres-url", default=os.environ.get("W3MSG_BENCH_POSTGRES_URL"),
                        help="an existing database (default: start a throwaway server)")
    parser.add_argument("--tmp-dir", default=None, help="where the SQLite file goes (default: system temp)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgres"}
    if unknown or not args.backends:
        parser.error(f"--backends: unknown backend(s) {sorted(unknown)}; choose from sqlite,postgres")
    return args


def main(argv: list[str]) -> int:
    global VERBOSE
    args = parse_args(argv)
    VERBOSE = args.verbose
    began = time.perf_counter()
    log(f"generating {args.messages} messages")
    batches = generate(args.messages, args.batch, args.seed)
    report: dict[str, Any] = {
        "bench": "store",
        "messages": args.messages,
        "config": {"batch": args.batch, "content_topics": len(CONTENT_TOPICS), "pubsub_topics": len(PUBSUB_TOPICS),
                   "payload_bytes": [100, 1000], "page_size": PAGE, "pages_per_session": PAGES_PER_SESSION,
                   "sessions_per_direction": args.sessions, "hash_lookups": args.lookups,
                   "window_s": WINDOW_NS // 10**9, "cpus": os.cpu_count()},
        "generate_s": round(time.perf_counter() - began, 2),
    }
    runners = {"sqlite": bench_sqlite, "postgres": bench_postgres}
    for name in ("sqlite", "postgres"):
        if name not in args.backends:
            report[name] = None
            continue
        try:
            report[name] = runners[name](batches, args)
        except (ConfigError, ImportError) as exc:  # no PostgreSQL here: say so in the report
            report[name] = {"error": str(exc).splitlines()[0]}
    report["targets"] = TARGETS
    report["targets_met"] = targets_met(report.get("sqlite"))
    report["duration_s"] = round(time.perf_counter() - began, 1)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
