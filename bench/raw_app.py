"""DESIGN.md's reference point: the booking transaction on raw asyncpg behind a bare Litestar handler.

Used by ``bench/bench.py`` (not ``--skip-raw``) to measure, on this machine and in the same run, what telecon's
booking endpoint is compared against: "at least half the raw-asyncpg figure". The transaction is the one the
performance budget names: lock the specialist, check for an overlap, insert the consultation, three attendees
and one outbox row. There is deliberately no authentication, tenancy, consent, calendar, idempotency, case
file or audit here: that is the work telecon does on top. Never part of the service.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import msgspec
from litestar import Litestar, Response, get, post

OVERLAP = """
SELECT count(*) FROM consultation
WHERE specialist_id = $1 AND status <> 'cancelled' AND starts_at < $3 AND blocked_until > $2
"""
INSERT_CONSULTATION = """
INSERT INTO consultation (id, organization_id, participant_id, specialist_id, booked_by_id, consultation_type_id,
    starts_at, ends_at, blocked_until, status, purpose, room_name, sequence, created_at, updated_at)
VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $7, 'scheduled', NULL, $8, 0, $9, $9)
"""
INSERT_ATTENDEES = """
INSERT INTO attendee (id, consultation_id, kind, user_id, participant_id, name, email, language, jitsi_role,
    token_nonce, token_hash, join_count)
VALUES ($1, $4, 'participant', NULL, $5, 'participant', NULL, 'de', 'participant', $7, $8, 0),
       ($2, $4, 'specialist', $6, NULL, 'specialist', NULL, 'de', 'moderator', $9, $10, 0),
       ($3, $4, 'coach', NULL, NULL, 'coach', NULL, 'de', 'participant', $11, $12, 0)
"""
INSERT_OUTBOX = """
INSERT INTO outbox_message (id, organization_id, consultation_id, topic, dedupe_key, payload, status, attempts,
    next_attempt_at, created_at)
VALUES ($1, $2, $3, 'consultation.booked', $4, $5, 'pending', 0, $6, $6)
"""


class Booking(msgspec.Struct):
    participant_id: uuid.UUID
    specialist_id: uuid.UUID
    consultation_type_id: uuid.UUID
    start: datetime


def make_app() -> Litestar:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def pool(_: Litestar) -> AsyncIterator[None]:
        url = os.environ["BENCH_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
        # BENCH_POOL_SIZE: bench/network.py splits the same 40 connections over its app processes.
        size = int(os.environ.get("BENCH_POOL_SIZE", "40"))
        state["pool"] = await asyncpg.create_pool(url, min_size=min(32, size), max_size=size)
        async with state["pool"].acquire() as connection:
            state["organization_id"] = await connection.fetchval("SELECT id FROM organization LIMIT 1")
        try:
            yield
        finally:
            await state["pool"].close()

    @get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @post("/api/v1/consultations")
    async def book(body: bytes) -> Response[dict[str, str]]:
        data = msgspec.json.decode(body, type=Booking)
        starts_at = data.start.astimezone(UTC)
        ends_at = starts_at + timedelta(minutes=30)
        consultation_id, now = uuid.uuid4(), datetime.now(UTC)
        tokens = [secrets.token_hex(32) for _ in range(6)]
        async with state["pool"].acquire() as connection, connection.transaction():
            await connection.execute("SELECT 1 FROM user_account WHERE id = $1 FOR UPDATE", data.specialist_id)
            if await connection.fetchval(OVERLAP, data.specialist_id, starts_at, ends_at):
                return Response({"title": "conflict"}, status_code=409)
            await connection.execute(
                INSERT_CONSULTATION,
                consultation_id,
                state["organization_id"],
                data.participant_id,
                data.specialist_id,
                data.consultation_type_id,
                starts_at,
                ends_at,
                f"tc-{secrets.token_hex(16)}",
                now,
            )
            await connection.execute(
                INSERT_ATTENDEES,
                uuid.uuid4(),
                uuid.uuid4(),
                uuid.uuid4(),
                consultation_id,
                data.participant_id,
                data.specialist_id,
                *tokens,
            )
            await connection.execute(
                INSERT_OUTBOX,
                uuid.uuid4(),
                state["organization_id"],
                consultation_id,
                f"consultation.booked:{consultation_id}:0",
                json.dumps({"consultation_id": str(consultation_id), "sequence": 0}),
                now,
            )
        return Response({"id": str(consultation_id)}, status_code=201)

    return Litestar([health, book], lifespan=[pool])
