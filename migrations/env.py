"""Alembic environment: the URL comes from the caller, the metadata from pbx.phones.models.

``upgrade_to_head`` passes an open connection in ``config.attributes["connection"]``;
the command line passes ``-x url=...``. SQLite gets batch mode so that later
revisions can alter tables (SQLite's ALTER TABLE cannot).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from pbx.phones.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the database URL: alembic -x url=sqlite:///pbx.db upgrade head")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported; run against a database")
run_migrations_online()
