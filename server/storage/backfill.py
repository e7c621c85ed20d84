"""Seal what was stored before encryption at rest began: org by org (each batch a unit
of work of its org, as row-level security wants), in bounded keyset batches. Run by
`clienta keys encrypt-existing`, and by migrate and serve at start-up, where finding
nothing left is one read of small partial indexes (migrations/0012)."""

from __future__ import annotations

from uuid import UUID

from server.storage import kb
from server.storage.db import Database
from server.storage.envelope import Field, associated, is_sealed
from server.storage.keys import KeyDestroyed

_UNSEALED = "left({col}, 1) <> E'\\x01'"


async def run(db: Database, batch: int = 500) -> int:
    """Seal every unsealed row; returns how many values were sealed."""
    async with db.pool.acquire() as conn:
        orgs = [r[0] for r in await conn.fetch("SELECT * FROM clienta_orgs_to_seal()")]
    total = 0
    for org_id in orgs:
        total += await _events(db, org_id, batch)
        total += await _visitors(db, org_id, batch)
        total += await _conversations(db, org_id, batch)
        total += await _unanswered(db, org_id, batch)
    return total


async def _events(db: Database, org_id: UUID, batch: int) -> int:
    done, after = 0, (UUID(int=0), 0)
    while True:
        async with db.unit_of_work(org_id) as conn:
            rows = await conn.fetch(
                "SELECT org_id, conversation_id, seq, kind, author_role, client_id, stream_id,"
                " body FROM events WHERE org_id = $4 AND (conversation_id, seq) > ($1, $2)"
                f" AND {_UNSEALED.format(col='body')} ORDER BY conversation_id, seq LIMIT $3",
                after[0], after[1], batch, org_id)
            if not rows:
                return done
            found = await db.keys.for_conversations(
                conn, {(r["org_id"], r["conversation_id"]) for r in rows})
            updates = []
            for r in rows:
                subject = found.get(r["conversation_id"])
                if subject is None or subject.key is None:
                    continue  # an erased visitor's rows are left to the erasure
                ad = associated(Field.EVENT_BODY, r["org_id"], r["conversation_id"], r["kind"],
                                r["author_role"], r["client_id"], r["stream_id"])
                updates.append((r["conversation_id"], r["seq"], r["body"],
                                subject.key.seal_text(r["body"], ad)))
            await conn.executemany(
                "UPDATE events SET body = $4 WHERE conversation_id = $1 AND seq = $2"
                " AND body = $3", updates)
            done += len(updates)
            after = (rows[-1]["conversation_id"], rows[-1]["seq"])


async def _visitors(db: Database, org_id: UUID, batch: int) -> int:
    done, after = 0, UUID(int=0)
    while True:
        async with db.unit_of_work(org_id) as conn:
            rows = await conn.fetch(
                "SELECT id, org_id, name, email FROM visitors WHERE org_id = $3 AND id > $1"
                f" AND ({_UNSEALED.format(col='name')} OR {_UNSEALED.format(col='email')})"
                " ORDER BY id LIMIT $2", after, batch, org_id)
            if not rows:
                return done
            for r in rows:
                try:
                    key = (await db.keys.for_visitor(conn, r["org_id"], r["id"])).usable()
                except KeyDestroyed:
                    continue
                values = []
                for col, fld in (("name", Field.VISITOR_NAME), ("email", Field.VISITOR_EMAIL)):
                    value = r[col]
                    values.append(value if value is None or is_sealed(value) else
                                  key.seal_text(value, associated(fld, r["org_id"], r["id"])))
                await conn.execute("UPDATE visitors SET name = $2, email = $3 WHERE id = $1",
                                   r["id"], *values)
                done += 1
            after = rows[-1]["id"]


async def _conversations(db: Database, org_id: UUID, batch: int) -> int:
    done, after = 0, UUID(int=0)
    while True:
        async with db.unit_of_work(org_id) as conn:
            rows = await conn.fetch(
                "SELECT id, org_id, followup_email, csat_comment FROM conversations"
                f" WHERE org_id = $3 AND id > $1 AND ({_UNSEALED.format(col='followup_email')}"
                f" OR {_UNSEALED.format(col='csat_comment')}) ORDER BY id LIMIT $2",
                after, batch, org_id)
            if not rows:
                return done
            found = await db.keys.for_conversations(conn, {(r["org_id"], r["id"]) for r in rows})
            for r in rows:
                subject = found.get(r["id"])
                if subject is None or subject.key is None:
                    continue
                values = []
                for col, fld in (("followup_email", Field.FOLLOWUP_EMAIL),
                                 ("csat_comment", Field.CSAT_COMMENT)):
                    value = r[col]
                    values.append(value if value is None or is_sealed(value) else
                                  subject.key.seal_text(value,
                                                        associated(fld, r["org_id"], r["id"])))
                # unless the visitor changed them meanwhile (their new values are sealed)
                status = await conn.execute(
                    "UPDATE conversations SET followup_email = $2, csat_comment = $3"
                    " WHERE id = $1 AND followup_email IS NOT DISTINCT FROM $4"
                    " AND csat_comment IS NOT DISTINCT FROM $5",
                    r["id"], *values, r["followup_email"], r["csat_comment"])
                done += status == "UPDATE 1"
            after = rows[-1]["id"]


async def _unanswered(db: Database, org_id: UUID, batch: int) -> int:
    done, after = 0, UUID(int=0)
    while True:
        async with db.unit_of_work(org_id) as conn:
            rows = await conn.fetch(
                "SELECT id, org_id, conversation_id, question FROM kb_unanswered"
                f" WHERE org_id = $3 AND id > $1 AND {_UNSEALED.format(col='question')}"
                " ORDER BY id LIMIT $2", after, batch, org_id)
            if not rows:
                return done
            for r in rows:
                sealed = await kb.seal_question(conn, db.keys, r["org_id"],
                                                r["conversation_id"], r["id"], r["question"])
                if sealed is not None:
                    await conn.execute("UPDATE kb_unanswered SET question = $2 WHERE id = $1"
                                       " AND question = $3", r["id"], sealed, r["question"])
                    done += 1
            after = rows[-1]["id"]
