"""Fixtures for the archive backends: a PostgreSQL server for the session, a fresh schema per
test, and ``store_url`` parametrised over both backends so one suite runs against each.

PostgreSQL: W3MSG_TEST_POSTGRES_URL if set (a database we may create schemas in), else a
throwaway server started with scripts/postgres-test-server.sh (installed from Debian's package
if missing) and stopped at the end of the session. If none can be had the PostgreSQL cases are
skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from w3msg_libp2p.protocols.store.archive import Archive
from w3msg_libp2p.protocols.store.open_archive import open_archive

ROOT = Path(__file__).resolve().parents[3]
SERVER_SCRIPT = ROOT / "scripts" / "postgres-test-server.sh"
BACKENDS = ("sqlite", "postgres")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL database for the whole session."""
    url = os.environ.get("W3MSG_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    state_dir = Path(tempfile.mkdtemp(prefix="w3msg-pg-state-"))
    env = {**os.environ, "W3MSG_PG_STATE": str(state_dir / "state")}  # our own server, not another session's
    try:
        try:
            started = subprocess.run(["bash", str(SERVER_SCRIPT), "start"], env=env, capture_output=True,
                                     text=True, timeout=900, check=False)
        except subprocess.TimeoutExpired:
            _unavailable("scripts/postgres-test-server.sh start timed out")
        if started.returncode != 0 or not started.stdout.strip():
            _unavailable(f"scripts/postgres-test-server.sh start failed: {started.stderr.strip()[-2000:]}")
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(SERVER_SCRIPT), "stop"], env=env, capture_output=True, timeout=120,
                       check=False)
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """``postgres_url`` with a fresh, empty schema first on the search path (dropped afterwards),
    so every test starts from an empty archive without creating a database."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]  # generated, safe name
    separator = "&" if "?" in postgres_url else "?"
    try:
        yield f"{postgres_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL naming an empty archive, once per backend."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/store.sqlite3"  # absolute: sqlite:///tmp/...
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def open_store(store_url: str, tmp_path: Path) -> Iterator[Callable[[], Archive]]:
    """Opens archives on ``store_url`` (each call a new connection); all closed at teardown."""
    opened: list[Archive] = []

    def opener() -> Archive:
        archive = open_archive(store_url, tmp_path)
        opened.append(archive)
        return archive

    try:
        yield opener
    finally:
        for archive in opened:
            archive.close()


@pytest.fixture
def archive(open_store: Callable[[], Archive]) -> Archive:
    return open_store()
