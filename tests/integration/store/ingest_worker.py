"""Ingest deterministic messages into an archive until killed (for test_crash_safety.py).

    python ingest_worker.py URL DATA_DIR START BATCH

Puts messages START, START+1, ... in batches of BATCH and, after each put() has returned,
prints the number of messages stored so far ("stored N": messages 0..N-1) and flushes, so
every number the parent reads was committed before it was printed.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from w3msg_libp2p.protocols.store.archive import StoredMessage
from w3msg_libp2p.protocols.store.open_archive import open_archive

PAYLOAD = 2048


def message(i: int) -> StoredMessage:
    digest = hashlib.sha256(b"crash-%d" % i).digest()
    return StoredMessage(hash=digest, pubsub_topic=f"/waku/2/rs/1/{i % 4}", content_topic="/crash/1/t/proto",
                         timestamp=1_700_000_000_000_000_000 + i, data=digest * (PAYLOAD // 32))


def main() -> None:
    url, data_dir, start, batch = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    archive = open_archive(url, data_dir)
    print("ready", flush=True)
    stored = start
    while stored < start + 1_000_000:  # bounded; the test kills us long before
        archive.put([message(i) for i in range(stored, stored + batch)])
        stored += batch
        print(f"stored {stored}", flush=True)
    archive.close()


if __name__ == "__main__":
    main()
