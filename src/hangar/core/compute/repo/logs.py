"""The console logs the manager keeps of ended sessions (one row per session)."""

from __future__ import annotations

import uuid

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hangar.db.engine import DbSession
from hangar.db.tables.compute import SessionLogRow


async def keep_log(db: DbSession, session_id: uuid.UUID, text: str) -> None:
    """Keep ``text`` as the session's console log (replacing one kept before): one
    statement, on the path of a session's end."""
    insert = sqlite_insert if db.get_bind().dialect.name == "sqlite" else pg_insert
    statement = insert(SessionLogRow).values(
        session_id=session_id, data=text.encode(errors="replace")
    )
    statement = statement.on_conflict_do_update(
        index_elements=[SessionLogRow.session_id], set_={"data": statement.excluded.data}
    )
    await db.execute(statement)


async def kept_log(db: DbSession, session_id: uuid.UUID) -> str | None:
    """The console log kept for the session, None when none was."""
    query = select(SessionLogRow.data).where(SessionLogRow.session_id == session_id)
    data = (await db.execute(query)).scalar_one_or_none()
    return data.decode(errors="replace") if data is not None else None


async def has_log(db: DbSession, session_id: uuid.UUID) -> bool:
    """Whether a console log is kept for the session."""
    query = select(exists().where(SessionLogRow.session_id == session_id))
    return bool((await db.execute(query)).scalar())
