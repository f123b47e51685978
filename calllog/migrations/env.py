"""Alembic environment: runs migrations against the URL given in the config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from calllog.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url is not None

connectable = create_engine(url)
with connectable.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()
connectable.dispose()
