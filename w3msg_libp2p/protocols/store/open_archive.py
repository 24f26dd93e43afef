"""Open the archive a store URL names (StoreConfig.url, ``--store-url``)."""

from __future__ import annotations

from pathlib import Path

from ...core.errors import ConfigError
from .archive import Archive
from .sql import redact
from .sqlite_archive import SqliteArchive

DEFAULT_FILE = "store.sqlite3"


def open_archive(url: str | None, data_dir: Path) -> Archive:
    """The archive for ``url``:

    - None: SQLite at ``data_dir/store.sqlite3`` (data_dir is created if missing);
    - ``sqlite:///abs/path.sqlite3``: SQLite at that absolute path;
    - ``sqlite://name.sqlite3``: SQLite at a path relative to data_dir;
    - ``postgresql://user:pass@host:port/db`` (or ``postgres://``, any libpq URL): PostgreSQL.

    Raises ConfigError (one line, password redacted) for a malformed or unknown URL, a file that
    cannot be opened as an archive, or a database that is unreachable or refuses us.
    """
    if url is None:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"store: cannot create data dir {data_dir}: {exc.strerror}") from exc
        return SqliteArchive(data_dir / DEFAULT_FILE)
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "sqlite":
        if not rest or rest.endswith("/") or "?" in rest:
            raise ConfigError(f"store: url {url!r} must name a file: sqlite:///abs/path or sqlite://relative/path")
        return SqliteArchive(Path(rest) if rest.startswith("/") else data_dir / rest)
    if sep and scheme in ("postgresql", "postgres"):
        try:  # psycopg is imported only when PostgreSQL is configured
            from .postgres_archive import PostgresArchive
        except ImportError as exc:
            raise ConfigError(f"store: PostgreSQL needs psycopg 3 (pip install 'psycopg[binary]'): {exc}") from exc
        return PostgresArchive(url)
    raise ConfigError(f"store: url {redact(url)!r} must start with sqlite:// or postgresql://")
