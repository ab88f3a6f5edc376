"""The specialist's own calendar over HTTP: connect, show, sync now, disconnect (only their own)."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import delete, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor, Role
from telecon.calendars import services
from telecon.calendars.models import CalendarKind
from telecon.calendars.schemas import CalendarIn, CalendarOut
from telecon.crypto import KeyRing
from telecon.openapi import problems
from telecon.settings import Settings
from telecon.web import CurrentActor, DbSession, current_time

SPECIALISTS = {"roles": (Role.specialist,)}
NOT_OWN = "Not the specialist themself: another specialist's calendar is not found."


def _keys(state: State) -> KeyRing:
    keys: KeyRing = state.key_ring
    return keys


async def sync_now(
    db_session: AsyncSession, actor: Actor, state: State, specialist_id: uuid.UUID, *, now: datetime
) -> None:
    """Read the actor's own calendar now and record the outcome, for this route and the availability page.

    It commits the request's transaction before reading: no transaction stays open while a calendar server takes
    its time (on SQLite it would hold the write lock). The outcome is written in a new one, committed as usual.
    """
    settings: Settings = state.settings
    reading = await services.sync_target(db_session, actor, _keys(state), specialist_id)
    await db_session.commit()
    async with services.http_client(settings.allowed_private_networks) as client:
        outcome = await services.read(client, reading, now=now)
    await services.record(db_session, reading, outcome, now=now)


@put(
    "/api/v1/specialists/{specialist_id:uuid}/calendar",
    opt=SPECIALISTS,
    responses=problems({404: NOT_OWN, 422: "The URL is not http(s), or a password comes without a user name."}),
)
async def connect_calendar(
    specialist_id: FromPath[uuid.UUID],
    data: JSONBody[CalendarIn],
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
) -> CalendarOut:
    """Connect the specialist's own calendar, replacing the one connected before (and its busy times).

    A CalDAV calendar (its collection URL, a user name and an app password) or a plain iCalendar link. Its busy
    times remove slots once read: by the worker within `TELECON_CALENDAR_SYNC_MINUTES`, or at once with
    `POST .../calendar/sync`. The server fetches the URL itself. The password is stored encrypted and never shown.
    """
    now = current_time(state)
    await services.connect(
        db_session,
        actor,
        _keys(state),
        specialist_id,
        kind=CalendarKind(data.kind),
        url=data.url,
        username=data.username,
        password=data.password,
        now=now,
    )
    return CalendarOut.of(await services.calendar_status(db_session, actor, specialist_id, now=now))


@get(
    "/api/v1/specialists/{specialist_id:uuid}/calendar",
    opt=SPECIALISTS,
    responses=problems({404: NOT_OWN}),
)
async def get_calendar(
    specialist_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor, state: State
) -> CalendarOut:
    """The specialist's connected calendar, its last read and its last error; never the password.

    Also the number of busy periods ahead (not their times). A calendar that could not be read shows why in
    `last_error`; the busy times of its last successful read still remove slots until a read succeeds again.
    """
    status = await services.calendar_status(db_session, actor, specialist_id, now=current_time(state))
    return CalendarOut.of(status)


@post(
    "/api/v1/specialists/{specialist_id:uuid}/calendar/sync",
    opt=SPECIALISTS,
    status_code=200,
    responses=problems({404: "No calendar is connected, or " + NOT_OWN[0].lower() + NOT_OWN[1:]}),
)
async def sync_calendar(
    specialist_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor, state: State
) -> CalendarOut:
    """Read the specialist's calendar now and answer its status.

    A failed read is not an error of this request: it answers 200 with `last_error` set, and the busy times
    of the last successful read stay.
    """
    now = current_time(state)
    await sync_now(db_session, actor, state, specialist_id, now=now)
    return CalendarOut.of(await services.calendar_status(db_session, actor, specialist_id, now=now))


@delete(
    "/api/v1/specialists/{specialist_id:uuid}/calendar",
    opt=SPECIALISTS,
    status_code=204,
    responses=problems({404: "No calendar is connected, or " + NOT_OWN[0].lower() + NOT_OWN[1:]}),
)
async def disconnect_calendar(specialist_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor) -> None:
    """Disconnect the specialist's calendar: its busy times stop removing slots at once.

    The stored busy periods and the encrypted password are deleted with it.
    """
    await services.disconnect(db_session, actor, specialist_id)
