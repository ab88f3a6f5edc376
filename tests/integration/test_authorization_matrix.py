"""Who may call what, for every route of the app: a table of expected answers, checked against real requests.

Two seeded organizations, A and B, each with an admin, a coach and a specialist. Every route is called by
anonymous and by each of the six staff, naming A's objects and B's objects in turn. ``RULES`` says, per route,
what a role of the objects' own organization gets and what the same role of the other organization gets.
The table must cover exactly the app's routes: a new route fails here until someone decides its rule.
The statuses in the table must also be documented for the route in the OpenAPI document.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.app import create_app
from telecon.auth.services import start_web_session
from telecon.settings import Settings
from telecon.ui.sessions import SESSION_COOKIE, Sessions
from tests.conftest import TEST_PASSWORD, World, berlin, login, next_weekday, now, seed_world
from tests.integration.test_openapi import NOT_IN_SCHEMA_PREFIXES, handlers, operations

ROLES = ("admin", "coach", "specialist")
ADMIN_ONLY = (200, 403, 403)
STAFF_ONLY = (200, 200, 403)
EVERYONE = (200, 200, 200)
NOBODY_ELSE = (404, 404, 404)
STAFF_ELSE_NOT_FOUND = (404, 404, 403)  # the role is checked first, then the object is not found
REDIRECTED = (303, 303, 303)
REFUSED = (403, 403, 403)
PAGES = {"GET /", "GET /login", "GET /coach", "GET /specialist", "POST /login", "POST /logout", "POST /language"}
PAGES |= {
    "GET /participants",
    "GET /participants/new",
    "POST /participants/new",
    "GET /participants/{participant_id}",
    "POST /participants/{participant_id}/consents",
    "POST /participants/{participant_id}/notes",
}
"""The staff pages: their errors are pages for people (text/html), not problem details."""
CSRF_GUARDED = {"POST /login", "POST /logout", "POST /language"}
CSRF_GUARDED |= {
    "POST /participants/new",
    "POST /participants/{participant_id}/consents",
    "POST /participants/{participant_id}/notes",
}
"""Refused to everybody without the form's token: a 403 that says nothing about roles."""
# The booking pages (telecon/ui/booking.py).
BOOKING_PAGES = {"GET /book", "GET /consultations/{consultation_id}"}
BOOKING_FORMS = {
    "POST /book",
    "POST /consultations/{consultation_id}/cancel",
    "POST /consultations/{consultation_id}/reschedule",
}
PAGES |= BOOKING_PAGES | BOOKING_FORMS
CSRF_GUARDED |= BOOKING_FORMS
# The specialist's availability page (telecon/ui/availability.py).
AVAILABILITY_PAGES = {"GET /availability"}
AVAILABILITY_FORMS = {
    "POST /availability",
    "POST /availability/absences",
    "POST /availability/extra",
    "POST /availability/overrides/{override_id}/delete",
    "POST /availability/calendar",
    "POST /availability/calendar/sync",
    "POST /availability/calendar/delete",
}
PAGES |= AVAILABILITY_PAGES | AVAILABILITY_FORMS
CSRF_GUARDED |= AVAILABILITY_FORMS
# The admin's pages (telecon/ui/admin.py).
ADMIN_PAGES = {"GET /admin/users", "GET /admin/consultation-types", "GET /admin/webhooks", "GET /admin/audit"}
ADMIN_FORMS = {
    "POST /admin/users",
    "POST /admin/users/{user_id}/deactivate",
    "POST /admin/users/{user_id}/reactivate",
    "POST /admin/users/{user_id}/end",
    "POST /admin/consultation-types",
    "POST /admin/webhooks",
    "POST /admin/webhooks/{webhook_id}/delete",
}
PAGES |= ADMIN_PAGES | ADMIN_FORMS
CSRF_GUARDED |= ADMIN_FORMS
# The specialist's pages (telecon/ui/specialist.py).
SPECIALIST_PAGES = {
    "GET /consultations/{consultation_id}/outcome",
    "GET /consultations/{consultation_id}/outcome/versions",
    "GET /specialist/notes",
    "GET /specialist/calendar-feed",
}
SPECIALIST_FORMS = {
    "POST /consultations/{consultation_id}/outcome",
    "POST /specialist/calendar-feed",
    "POST /specialist/calendar-feed/revoke",
}
PAGES |= SPECIALIST_PAGES | SPECIALIST_FORMS
CSRF_GUARDED |= SPECIALIST_FORMS
# Editing a participant (telecon/ui/participants.py) and the instruction sheet (telecon/ui/sheet.py).
PAGES |= {
    "GET /participants/{participant_id}/edit",
    "POST /participants/{participant_id}/edit",
    "GET /consultations/{consultation_id}/sheet",
}
CSRF_GUARDED |= {"POST /participants/{participant_id}/edit"}
# Choosing the organization to act in (telecon/ui/routes.py).
PAGES |= {"GET /organization", "POST /organization"}
CSRF_GUARDED |= {"POST /organization"}
# The waitlist page (telecon/ui/waitlist.py).
WAITLIST_FORMS = {"POST /waitlist", "POST /waitlist/{entry_id}/confirm", "POST /waitlist/{entry_id}/withdraw"}
PAGES |= {"GET /waitlist"} | WAITLIST_FORMS
CSRF_GUARDED |= WAITLIST_FORMS
# The FHIR export (telecon/fhir): its errors are OperationOutcome resources in application/fhir+json.
FHIR = {"GET /fhir/Appointment", "GET /fhir/Appointment/{appointment_id}"}


@dataclass
class Call:
    method: str
    path: str
    json: Any = None
    params: dict[str, str] | None = None


@dataclass
class Owner:
    """One organization's objects, as named in requests."""

    world: World
    consultation_id: str
    guest_attendee_id: str
    join_token: str
    coach_headers: dict[str, str]


class Fresh:
    """Things a successful request uses up: free slots and unique names."""

    def __init__(self) -> None:
        self._slots = itertools.product(range(2, 40), range(5), (9, 10, 11), (0, 30))
        self._numbers = itertools.count()

    def slot(self) -> str:
        weeks, weekday, hour, minute = next(self._slots)
        return berlin(next_weekday(weekday, weeks_ahead=weeks), hour, minute)

    def number(self) -> int:
        return next(self._numbers)


Build = Callable[[Owner, Fresh, httpx.AsyncClient], Awaitable[Call]]


@dataclass(frozen=True)
class Rule:
    """Statuses for (admin, coach, specialist): of the objects' organization, and of the other one."""

    build: Build
    own: tuple[int, int, int]
    other: tuple[int, int, int]
    anonymous: int = 401


def call(method: str, path: str, **kwargs: Any) -> Build:
    """A request whose ``{placeholders}`` are filled from the owner's objects."""

    async def build(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
        return Call(method, path.format(**_names(owner)), **kwargs)

    return build


def _names(owner: Owner) -> dict[str, Any]:
    w = owner.world
    return {
        "participant": w.participant_id,
        "specialist": w.specialist_id,
        "psychologist": w.psychologist_id,
        "type": w.type_id,
        "consultation": owner.consultation_id,
        "attendee": owner.guest_attendee_id,
        "token": owner.join_token,
    }


def window() -> dict[str, str]:
    day = next_weekday(0, weeks_ahead=1)
    return {"start": berlin(day, 0), "end": berlin(date.fromordinal(day.toordinal() + 7), 0)}


async def login_body(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    return Call("POST", "/api/v1/auth/login", json={"email": owner.world.coach, "password": TEST_PASSWORD})


async def new_user(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    body = {
        "email": f"user{fresh.number()}@test.invalid",
        "password": "a long enough password",
        "display_name": "Neu",
        "role": "coach",
    }
    return Call("POST", "/api/v1/users", json=body)


async def new_type(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    return Call("POST", "/api/v1/consultation-types", json={"name": f"Typ {fresh.number()}", "duration_minutes": 30})


WEEK = {"timezone": "Europe/Berlin", "weekly": [{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(5)]}


async def extra_hours(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    sunday = next_weekday(6, weeks_ahead=50 + fresh.number())  # far from the slots the bookings use
    body = {"start": berlin(sunday, 10), "end": berlin(sunday, 11), "kind": "extra"}
    return Call("POST", f"/api/v1/specialists/{owner.world.specialist_id}/overrides", json=body)


async def removable_hours(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    """Extra hours the owner's specialist has just added, to be removed."""
    added = await extra_hours(owner, fresh, client)
    made = await client.post(added.path, json=added.json, headers=await login(client, owner.world.specialist))
    assert made.status_code == 201, made.text
    return Call("DELETE", f"{added.path}/{made.json()['id']}")


UNREACHABLE_CALENDAR = {"kind": "ics", "url": "http://127.0.0.1:9/calendar.ics"}
"""A calendar on loopback's discard port: every read fails at once (connection refused), and says so."""


async def connected_calendar(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    """The owner's specialist has connected a calendar; the call reads it now."""
    path = f"/api/v1/specialists/{owner.world.specialist_id}/calendar"
    made = await client.put(path, json=UNREACHABLE_CALENDAR, headers=await login(client, owner.world.specialist))
    assert made.status_code == 200, made.text
    return Call("POST", path + "/sync")


async def removable_calendar(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    connected = await connected_calendar(owner, fresh, client)
    return Call("DELETE", connected.path.removesuffix("/sync"))


async def slots(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    params = {"consultation_type_id": str(owner.world.type_id), "specialist_id": str(owner.world.specialist_id)}
    return Call("GET", "/api/v1/slots", params=params | window())


def booking(owner: Owner, start: str) -> dict[str, Any]:
    return {
        "participant_id": str(owner.world.participant_id),
        "specialist_id": str(owner.world.specialist_id),
        "consultation_type_id": str(owner.world.type_id),
        "start": start,
        "guests": [{"name": "Dolmetscherin", "email": "interpreter@test.invalid", "language": "tr"}],
    }


async def book(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    return Call("POST", "/api/v1/consultations", json=booking(owner, fresh.slot()))


async def reschedule(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    path = f"/api/v1/consultations/{owner.consultation_id}/reschedule"
    return Call("POST", path, json={"start": fresh.slot()})


async def cancel(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    """Each call cancels a consultation of its own, so that an allowed cancel is never a repeated one."""
    booked = await client.post("/api/v1/consultations", json=booking(owner, fresh.slot()), headers=owner.coach_headers)
    assert booked.status_code == 201, booked.text
    return Call("POST", f"/api/v1/consultations/{booked.json()['id']}/cancel", json={"reason": "verlegt"})


async def end_membership(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    """Each call ends the membership of a user of its own, so that an allowed end is never a repeated one."""
    admin = await login(client, owner.world.admin)
    body = {
        "email": f"leaving{fresh.number()}@test.invalid",
        "password": "a long enough password",
        "display_name": "Geht",
        "role": "coach",
    }
    created = await client.post("/api/v1/users", json=body, headers=admin)
    assert created.status_code == 201, created.text
    return Call("DELETE", f"/api/v1/users/{created.json()['id']}/membership")


async def calendar_feed(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    """The owner's specialist's feed URL, made anew for each call (which also revokes the one before)."""
    specialist = await login(client, owner.world.specialist)
    created = await client.post("/api/v1/me/calendar-feed", headers=specialist)
    assert created.status_code == 201, created.text
    return Call("GET", urlsplit(created.json()["url"]).path)


async def outcome_by_link(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    """An outcome through the owner's specialist's own link: whoever sends it, the consultation lies ahead (409)."""
    specialist = await login(client, owner.world.specialist)
    shown = await client.get(f"/api/v1/consultations/{owner.consultation_id}", headers=specialist)
    link = next(a["join_url"] for a in shown.json()["attendees"] if a["kind"] == "specialist")
    return Call("PUT", f"/api/v1/join/{link.rsplit('/', 1)[1]}/outcome", json={"attendance": "attended"})


async def erase(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    """Each call erases a participant of its own, so that the other rules keep theirs."""
    body = {"display_name": f"Zu Löschen {fresh.number()}"}
    created = await client.post("/api/v1/participants", json=body, headers=owner.coach_headers)
    assert created.status_code == 201, created.text
    return Call("POST", f"/api/v1/participants/{created.json()['id']}/erase")


async def _waiting_participant(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> str:
    """A new participant of the owner's organization who consented to video consultations."""
    body = {"display_name": f"Wartet {fresh.number()}"}
    created = await client.post("/api/v1/participants", json=body, headers=owner.coach_headers)
    assert created.status_code == 201, created.text
    pid: str = created.json()["id"]
    consent = {"kind": "video_consultation", "granted": True}
    granted = await client.post(f"/api/v1/participants/{pid}/consents", json=consent, headers=owner.coach_headers)
    assert granted.status_code == 201, granted.text
    return pid


def _waitlist_body(owner: Owner, participant_id: str) -> dict[str, str]:
    # The psychologist: holds take their earliest slots, away from the physician's that the bookings use.
    return {
        "participant_id": participant_id,
        "consultation_type_id": str(owner.world.type_id),
        "profession": "psychologist",
    }


async def new_waitlist_entry(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    return Call(
        "POST", "/api/v1/waitlist", json=_waitlist_body(owner, await _waiting_participant(owner, fresh, client))
    )


async def _held_entry(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> str:
    """Each call puts a participant of its own on the waitlist; a psychologist's slot is held for them at once."""
    body = _waitlist_body(owner, await _waiting_participant(owner, fresh, client))
    added = await client.post("/api/v1/waitlist", json=body, headers=owner.coach_headers)
    assert added.status_code == 201, added.text
    assert added.json()["status"] == "held", added.text
    entry_id: str = added.json()["id"]
    return entry_id


async def waitlist_entry(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    return Call("GET", f"/api/v1/waitlist/{await _held_entry(owner, fresh, client)}")


async def confirm_hold(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    return Call("POST", f"/api/v1/waitlist/{await _held_entry(owner, fresh, client)}/confirm", json={})


async def withdraw_entry(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    return Call("POST", f"/api/v1/waitlist/{await _held_entry(owner, fresh, client)}/withdraw")


async def new_webhook(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    return Call("POST", "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["outcome.recorded"]})


async def _owners_webhook(owner: Owner, client: httpx.AsyncClient) -> str:
    """A webhook of the owner's organization, registered by its admin."""
    admin = await login(client, owner.world.admin)
    body = {"url": "http://127.0.0.1:9/hook", "events": ["consultation.booked"]}
    created = await client.post("/api/v1/webhooks", json=body, headers=admin)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def delete_webhook(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    """Each call deletes a webhook of its own, so that an allowed delete is never a repeated one."""
    return Call("DELETE", f"/api/v1/webhooks/{await _owners_webhook(owner, client)}")


async def webhook_deliveries(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    return Call("GET", f"/api/v1/webhooks/{await _owners_webhook(owner, client)}/deliveries")


async def fhir_search(owner: Owner, fresh: Fresh, client: httpx.AsyncClient) -> Call:
    """The owner's participant's appointments: another organization's caller finds none (an empty Bundle)."""
    return Call("GET", "/fhir/Appointment", params={"patient": f"urn:telecon:participant|{owner.world.participant_id}"})


NO_SUCH_INVITATION = "00000000-0000-4000-8000-000000000000"
PARTICIPANT = "/api/v1/participants/{participant}"
SPECIALIST = "/api/v1/specialists/{specialist}"
CONSULTATION = "/api/v1/consultations/{consultation}"

RULES: dict[str, Rule] = {
    "GET /health": Rule(call("GET", "/health"), EVERYONE, EVERYONE, anonymous=200),
    "GET /ready": Rule(call("GET", "/ready"), EVERYONE, EVERYONE, anonymous=200),
    "POST /api/v1/auth/login": Rule(login_body, EVERYONE, EVERYONE, anonymous=200),
    "GET /api/v1/me": Rule(call("GET", "/api/v1/me"), EVERYONE, EVERYONE),
    "POST /api/v1/users": Rule(new_user, (201, 403, 403), (201, 403, 403)),
    "GET /api/v1/users": Rule(call("GET", "/api/v1/users"), ADMIN_ONLY, ADMIN_ONLY),
    # The staff pages: the callers send a session cookie besides their bearer token (a bearer token alone is
    # no session, tests/integration/test_ui.py). Signed in, ``/`` and ``/login`` lead home; anonymous to sign-in.
    "GET /": Rule(call("GET", "/"), REDIRECTED, REDIRECTED, anonymous=303),
    "GET /login": Rule(call("GET", "/login"), REDIRECTED, REDIRECTED, anonymous=200),
    "GET /coach": Rule(call("GET", "/coach"), STAFF_ONLY, STAFF_ONLY, anonymous=303),
    "GET /specialist": Rule(call("GET", "/specialist"), (403, 403, 200), (403, 403, 200), anonymous=303),
    # Forms: without the form's CSRF token everybody is refused (test_ui.py posts them with it).
    "POST /login": Rule(
        call("POST", "/login", json={"email": "a-coach@test.invalid"}), REFUSED, REFUSED, anonymous=403
    ),
    "POST /logout": Rule(call("POST", "/logout"), REFUSED, REFUSED, anonymous=403),
    "POST /language": Rule(call("POST", "/language"), REFUSED, REFUSED, anonymous=403),
    "GET /organization": Rule(call("GET", "/organization"), EVERYONE, EVERYONE, anonymous=303),
    "POST /organization": Rule(call("POST", "/organization"), REFUSED, REFUSED, anonymous=403),
    # The booking pages: coaches and admins; another organization's consultation is not found.
    "GET /book": Rule(call("GET", "/book"), STAFF_ONLY, STAFF_ONLY, anonymous=303),
    "GET /consultations/{consultation_id}": Rule(
        call("GET", "/consultations/{consultation}"), STAFF_ONLY, STAFF_ELSE_NOT_FOUND, anonymous=303
    ),
    "POST /book": Rule(call("POST", "/book"), REFUSED, REFUSED, anonymous=403),
    "POST /consultations/{consultation_id}/cancel": Rule(
        call("POST", "/consultations/{consultation}/cancel"), REFUSED, REFUSED, anonymous=403
    ),
    "POST /consultations/{consultation_id}/reschedule": Rule(
        call("POST", "/consultations/{consultation}/reschedule"), REFUSED, REFUSED, anonymous=403
    ),
    # The participant pages (telecon/ui/participants.py): the API's rules; forms without their token refused.
    "GET /participants": Rule(call("GET", "/participants"), STAFF_ONLY, STAFF_ONLY, anonymous=303),
    "GET /waitlist": Rule(call("GET", "/waitlist"), STAFF_ONLY, STAFF_ONLY, anonymous=303),
    "POST /waitlist": Rule(call("POST", "/waitlist"), REFUSED, REFUSED, anonymous=403),
    "POST /waitlist/{entry_id}/confirm": Rule(
        call("POST", f"/waitlist/{uuid.UUID(int=1)}/confirm"), REFUSED, REFUSED, anonymous=403
    ),
    "POST /waitlist/{entry_id}/withdraw": Rule(
        call("POST", f"/waitlist/{uuid.UUID(int=1)}/withdraw"), REFUSED, REFUSED, anonymous=403
    ),
    "GET /participants/new": Rule(call("GET", "/participants/new"), STAFF_ONLY, STAFF_ONLY, anonymous=303),
    "GET /participants/{participant_id}": Rule(
        call("GET", "/participants/{participant}"), STAFF_ONLY, STAFF_ELSE_NOT_FOUND, anonymous=303
    ),
    "POST /participants/new": Rule(call("POST", "/participants/new"), REFUSED, REFUSED, anonymous=403),
    "POST /participants/{participant_id}/consents": Rule(
        call("POST", "/participants/{participant}/consents"), REFUSED, REFUSED, anonymous=403
    ),
    "POST /participants/{participant_id}/notes": Rule(
        call("POST", "/participants/{participant}/notes"), REFUSED, REFUSED, anonymous=403
    ),
    "GET /participants/{participant_id}/edit": Rule(
        call("GET", "/participants/{participant}/edit"), STAFF_ONLY, STAFF_ELSE_NOT_FOUND, anonymous=303
    ),
    "POST /participants/{participant_id}/edit": Rule(
        call("POST", "/participants/{participant}/edit"), REFUSED, REFUSED, anonymous=403
    ),
    # The instruction sheet: the consultation page's rules (it shows the same participant link).
    "GET /consultations/{consultation_id}/sheet": Rule(
        call("GET", "/consultations/{consultation}/sheet"), STAFF_ONLY, STAFF_ELSE_NOT_FOUND, anonymous=303
    ),
    # The availability page (telecon/ui/availability.py): specialists only, each their own; forms need their token.
    "GET /availability": Rule(call("GET", "/availability"), (403, 403, 200), (403, 403, 200), anonymous=303),
    "POST /availability": Rule(call("POST", "/availability"), REFUSED, REFUSED, anonymous=403),
    "POST /availability/absences": Rule(call("POST", "/availability/absences"), REFUSED, REFUSED, anonymous=403),
    # The admin's pages (telecon/ui/admin.py): admins only; forms need their token (test_ui_admin.py posts them).
    "GET /admin/users": Rule(call("GET", "/admin/users"), ADMIN_ONLY, ADMIN_ONLY, anonymous=303),
    "GET /admin/consultation-types": Rule(
        call("GET", "/admin/consultation-types"), ADMIN_ONLY, ADMIN_ONLY, anonymous=303
    ),
    "GET /admin/webhooks": Rule(call("GET", "/admin/webhooks"), ADMIN_ONLY, ADMIN_ONLY, anonymous=303),
    "GET /admin/audit": Rule(call("GET", "/admin/audit"), ADMIN_ONLY, ADMIN_ONLY, anonymous=303),
    "POST /admin/users": Rule(call("POST", "/admin/users"), REFUSED, REFUSED, anonymous=403),
    "POST /admin/users/{user_id}/deactivate": Rule(
        call("POST", "/admin/users/{psychologist}/deactivate"), REFUSED, REFUSED, anonymous=403
    ),
    "POST /admin/users/{user_id}/reactivate": Rule(
        call("POST", "/admin/users/{psychologist}/reactivate"), REFUSED, REFUSED, anonymous=403
    ),
    "POST /admin/users/{user_id}/end": Rule(
        call("POST", "/admin/users/{psychologist}/end"), REFUSED, REFUSED, anonymous=403
    ),
    "POST /admin/consultation-types": Rule(call("POST", "/admin/consultation-types"), REFUSED, REFUSED, anonymous=403),
    "POST /admin/webhooks": Rule(call("POST", "/admin/webhooks"), REFUSED, REFUSED, anonymous=403),
    "POST /admin/webhooks/{webhook_id}/delete": Rule(
        call("POST", f"/admin/webhooks/{NO_SUCH_INVITATION}/delete"), REFUSED, REFUSED, anonymous=403
    ),
    "POST /availability/extra": Rule(call("POST", "/availability/extra"), REFUSED, REFUSED, anonymous=403),
    "POST /availability/calendar": Rule(call("POST", "/availability/calendar"), REFUSED, REFUSED, anonymous=403),
    "POST /availability/calendar/sync": Rule(
        call("POST", "/availability/calendar/sync"), REFUSED, REFUSED, anonymous=403
    ),
    "POST /availability/calendar/delete": Rule(
        call("POST", "/availability/calendar/delete"), REFUSED, REFUSED, anonymous=403
    ),
    "POST /availability/overrides/{override_id}/delete": Rule(
        call("POST", f"/availability/overrides/{NO_SUCH_INVITATION}/delete"), REFUSED, REFUSED, anonymous=403
    ),
    # The specialist's pages (telecon/ui/specialist.py): specialists only; a consultation only its own specialist's
    # (it lies ahead: the form says so, and there are no versions yet); forms need their token.
    "GET /consultations/{consultation_id}/outcome": Rule(
        call("GET", "/consultations/{consultation}/outcome"), (403, 403, 200), (403, 403, 404), anonymous=303
    ),
    "GET /consultations/{consultation_id}/outcome/versions": Rule(
        call("GET", "/consultations/{consultation}/outcome/versions"), (403, 403, 404), (403, 403, 404), anonymous=303
    ),
    "POST /consultations/{consultation_id}/outcome": Rule(
        call("POST", "/consultations/{consultation}/outcome"), REFUSED, REFUSED, anonymous=403
    ),
    "GET /specialist/notes": Rule(call("GET", "/specialist/notes"), (403, 403, 200), (403, 403, 200), anonymous=303),
    "GET /specialist/calendar-feed": Rule(
        call("GET", "/specialist/calendar-feed"), (403, 403, 200), (403, 403, 200), anonymous=303
    ),
    "POST /specialist/calendar-feed": Rule(call("POST", "/specialist/calendar-feed"), REFUSED, REFUSED, anonymous=403),
    "POST /specialist/calendar-feed/revoke": Rule(
        call("POST", "/specialist/calendar-feed/revoke"), REFUSED, REFUSED, anonymous=403
    ),
    # Only the account an invitation was made for may answer it (tests/integration/test_accounts.py shows the
    # holder's side); for everyone else an invitation does not exist.
    "POST /api/v1/me/invitations/{invitation_id}/accept": Rule(
        call("POST", f"/api/v1/me/invitations/{NO_SUCH_INVITATION}/accept"), NOBODY_ELSE, NOBODY_ELSE
    ),
    "POST /api/v1/me/invitations/{invitation_id}/decline": Rule(
        call("POST", f"/api/v1/me/invitations/{NO_SUCH_INVITATION}/decline"), NOBODY_ELSE, NOBODY_ELSE
    ),
    # The psychologist is switched off and on again (both repeatable); no other rule uses them.
    "POST /api/v1/users/{user_id}/deactivate": Rule(
        call("POST", "/api/v1/users/{psychologist}/deactivate"), ADMIN_ONLY, (404, 403, 403)
    ),
    "POST /api/v1/users/{user_id}/reactivate": Rule(
        call("POST", "/api/v1/users/{psychologist}/reactivate"), ADMIN_ONLY, (404, 403, 403)
    ),
    "DELETE /api/v1/users/{user_id}/membership": Rule(end_membership, (204, 403, 403), (404, 403, 403)),
    "GET /api/v1/specialists": Rule(call("GET", "/api/v1/specialists"), EVERYONE, EVERYONE),
    "GET /api/v1/specialists/{specialist_id}": Rule(call("GET", SPECIALIST), EVERYONE, NOBODY_ELSE),
    "GET /api/v1/participants": Rule(call("GET", "/api/v1/participants"), STAFF_ONLY, STAFF_ONLY),
    "POST /api/v1/participants": Rule(
        call("POST", "/api/v1/participants", json={"display_name": "Neue Teilnehmerin"}),
        (201, 201, 403),
        (201, 201, 403),
    ),
    "GET /api/v1/participants/{participant_id}": Rule(call("GET", PARTICIPANT), STAFF_ONLY, STAFF_ELSE_NOT_FOUND),
    # An empty change: allowed callers get the participant unchanged, so the other rules keep theirs.
    "PATCH /api/v1/participants/{participant_id}": Rule(
        call("PATCH", PARTICIPANT, json={}), STAFF_ONLY, STAFF_ELSE_NOT_FOUND
    ),
    "GET /api/v1/participants/{participant_id}/consents": Rule(
        call("GET", PARTICIPANT + "/consents"), STAFF_ONLY, STAFF_ELSE_NOT_FOUND
    ),
    "POST /api/v1/participants/{participant_id}/consents": Rule(
        call("POST", PARTICIPANT + "/consents", json={"kind": "email_contact", "granted": True}),
        (201, 201, 403),
        STAFF_ELSE_NOT_FOUND,
    ),
    "POST /api/v1/participants/{participant_id}/notes": Rule(
        call("POST", PARTICIPANT + "/notes", json={"text": "Notiz"}), (201, 201, 403), STAFF_ELSE_NOT_FOUND
    ),
    "GET /api/v1/participants/{participant_id}/case-file": Rule(
        call("GET", PARTICIPANT + "/case-file"), STAFF_ONLY, STAFF_ELSE_NOT_FOUND
    ),
    "GET /api/v1/participants/{participant_id}/export": Rule(
        call("GET", PARTICIPANT + "/export"), ADMIN_ONLY, (404, 403, 403)
    ),
    "POST /api/v1/participants/{participant_id}/erase": Rule(erase, ADMIN_ONLY, (404, 403, 403)),
    "GET /api/v1/consultation-types": Rule(call("GET", "/api/v1/consultation-types"), EVERYONE, EVERYONE),
    "POST /api/v1/consultation-types": Rule(new_type, (201, 403, 403), (201, 403, 403)),
    "GET /api/v1/specialists/{specialist_id}/availability": Rule(
        call("GET", SPECIALIST + "/availability"), EVERYONE, NOBODY_ELSE
    ),
    # Only the specialist edits their own calendar; the object is looked up before the role is checked.
    "PUT /api/v1/specialists/{specialist_id}/availability": Rule(
        call("PUT", SPECIALIST + "/availability", json=WEEK), (403, 403, 200), NOBODY_ELSE
    ),
    "GET /api/v1/specialists/{specialist_id}/overrides": Rule(
        call("GET", SPECIALIST + "/overrides", params=window()), EVERYONE, NOBODY_ELSE
    ),
    "POST /api/v1/specialists/{specialist_id}/overrides": Rule(extra_hours, (403, 403, 201), NOBODY_ELSE),
    "DELETE /api/v1/specialists/{specialist_id}/overrides/{override_id}": Rule(
        removable_hours, (403, 403, 204), NOBODY_ELSE
    ),
    # The specialist's own connected calendar (telecon/calendars): theirs alone, to see as to change.
    "PUT /api/v1/specialists/{specialist_id}/calendar": Rule(
        call("PUT", SPECIALIST + "/calendar", json=UNREACHABLE_CALENDAR), (403, 403, 200), NOBODY_ELSE
    ),
    "GET /api/v1/specialists/{specialist_id}/calendar": Rule(
        call("GET", SPECIALIST + "/calendar"), (403, 403, 200), NOBODY_ELSE
    ),
    "POST /api/v1/specialists/{specialist_id}/calendar/sync": Rule(connected_calendar, (403, 403, 200), NOBODY_ELSE),
    "DELETE /api/v1/specialists/{specialist_id}/calendar": Rule(removable_calendar, (403, 403, 204), NOBODY_ELSE),
    "GET /api/v1/slots": Rule(slots, EVERYONE, NOBODY_ELSE),
    "GET /api/v1/consultations": Rule(call("GET", "/api/v1/consultations"), EVERYONE, EVERYONE),
    "POST /api/v1/consultations": Rule(book, (201, 201, 403), STAFF_ELSE_NOT_FOUND),
    "POST /api/v1/waitlist": Rule(new_waitlist_entry, (201, 201, 403), STAFF_ELSE_NOT_FOUND),
    "GET /api/v1/waitlist": Rule(call("GET", "/api/v1/waitlist"), STAFF_ONLY, STAFF_ONLY),
    "GET /api/v1/waitlist/{entry_id}": Rule(waitlist_entry, STAFF_ONLY, STAFF_ELSE_NOT_FOUND),
    "POST /api/v1/waitlist/{entry_id}/confirm": Rule(confirm_hold, (201, 201, 403), STAFF_ELSE_NOT_FOUND),
    "POST /api/v1/waitlist/{entry_id}/withdraw": Rule(withdraw_entry, STAFF_ONLY, STAFF_ELSE_NOT_FOUND),
    "GET /api/v1/consultations/{consultation_id}": Rule(call("GET", CONSULTATION), EVERYONE, NOBODY_ELSE),
    "POST /api/v1/consultations/{consultation_id}/reschedule": Rule(reschedule, STAFF_ONLY, STAFF_ELSE_NOT_FOUND),
    "POST /api/v1/consultations/{consultation_id}/cancel": Rule(cancel, STAFF_ONLY, STAFF_ELSE_NOT_FOUND),
    "POST /api/v1/consultations/{consultation_id}/attendees/{attendee_id}/reissue": Rule(
        call("POST", CONSULTATION + "/attendees/{attendee}/reissue"), STAFF_ONLY, STAFF_ELSE_NOT_FOUND
    ),
    "POST /api/v1/consultations/{consultation_id}/attendees/{attendee_id}/resend": Rule(
        call("POST", CONSULTATION + "/attendees/{attendee}/resend"), (202, 202, 403), STAFF_ELSE_NOT_FOUND
    ),
    # The consultation lies ahead: its own specialist gets 409 (not started), nobody has an outcome to read yet.
    "PUT /api/v1/consultations/{consultation_id}/outcome": Rule(
        call("PUT", CONSULTATION + "/outcome", json={"attendance": "attended"}), (403, 403, 409), (403, 403, 404)
    ),
    "GET /api/v1/consultations/{consultation_id}/outcome": Rule(
        call("GET", CONSULTATION + "/outcome"), NOBODY_ELSE, NOBODY_ELSE
    ),
    "GET /api/v1/consultations/{consultation_id}/outcome/versions": Rule(
        call("GET", CONSULTATION + "/outcome/versions"), (403, 403, 404), (403, 403, 404)
    ),
    # A link is its own credential: the specialist's, whoever sends it (the participant's: tests/.../test_outcomes).
    "PUT /api/v1/join/{token}/outcome": Rule(outcome_by_link, (409, 409, 409), (409, 409, 409), anonymous=409),
    "GET /api/v1/outcomes/missing": Rule(call("GET", "/api/v1/outcomes/missing"), EVERYONE, EVERYONE),
    "GET /api/v1/outcomes/mine": Rule(call("GET", "/api/v1/outcomes/mine"), (403, 403, 200), (403, 403, 200)),
    "GET /api/v1/audit-events": Rule(call("GET", "/api/v1/audit-events"), ADMIN_ONLY, ADMIN_ONLY),
    # A join link is its own credential: whoever holds it, with or without a staff token.
    "GET /api/v1/join/{token}": Rule(call("GET", "/api/v1/join/{token}"), EVERYONE, EVERYONE, anonymous=200),
    "GET /join/{token}": Rule(call("GET", "/join/{token}"), EVERYONE, EVERYONE, anonymous=200),
    # A specialist's own calendar feed: no objects of an organization, so the other organization's
    # specialist gets the same answers. In this order: made, read, then revoked (revoking twice is no error).
    "POST /api/v1/me/calendar-feed": Rule(call("POST", "/api/v1/me/calendar-feed"), (403, 403, 201), (403, 403, 201)),
    "GET /api/v1/me/calendar-feed": Rule(call("GET", "/api/v1/me/calendar-feed"), (403, 403, 200), (403, 403, 200)),
    # Any role may revoke its own feed, so that a leaked URL can be stopped whatever the role is now.
    "DELETE /api/v1/me/calendar-feed": Rule(
        call("DELETE", "/api/v1/me/calendar-feed"), (204, 204, 204), (204, 204, 204)
    ),
    # Like a join link, the feed's URL is its own credential.
    "GET /calendar/{token}": Rule(calendar_feed, EVERYONE, EVERYONE, anonymous=200),
    "POST /api/v1/webhooks": Rule(new_webhook, (201, 403, 403), (201, 403, 403)),
    "GET /api/v1/webhooks": Rule(call("GET", "/api/v1/webhooks"), ADMIN_ONLY, ADMIN_ONLY),
    "DELETE /api/v1/webhooks/{webhook_id}": Rule(delete_webhook, (204, 403, 403), (404, 403, 403)),
    "GET /api/v1/webhooks/{webhook_id}/deliveries": Rule(webhook_deliveries, ADMIN_ONLY, (404, 403, 403)),
    # The FHIR export: the rules of GET /api/v1/consultations/{id} and GET /api/v1/consultations (a specialist
    # searching by case reference is refused: tests/integration/test_fhir.py).
    "GET /fhir/Appointment/{appointment_id}": Rule(
        call("GET", "/fhir/Appointment/{consultation}"), EVERYONE, NOBODY_ELSE
    ),
    "GET /fhir/Appointment": Rule(fhir_search, EVERYONE, EVERYONE),
}


def app_routes(settings: Settings) -> set[str]:
    return {key for key in handlers(create_app(settings)) if not key.split(" ")[1].startswith(NOT_IN_SCHEMA_PREFIXES)}


def test_the_table_covers_exactly_the_routes_of_the_app(settings: Settings) -> None:
    routes = app_routes(settings)
    assert set(RULES) - routes == set(), "rules for routes that no longer exist"
    assert routes - set(RULES) == set(), "routes without a rule: add each to RULES with who may call it"


def test_the_table_agrees_with_the_documented_roles_and_statuses(settings: Settings) -> None:
    app = create_app(settings)
    documented = operations(app.openapi_schema.to_schema())
    by_route = handlers(app)
    for key, rule in RULES.items():
        _, handler = by_route[key]
        roles = {getattr(r, "value", r) for r in handler.opt.get("roles", ())}
        refused = {role for role, status in zip(ROLES, rule.own, strict=True) if status == 403}
        if key not in CSRF_GUARDED:
            assert refused == ({r for r in ROLES if r not in roles} if roles else set()), key
        assert (rule.anonymous != 401) == bool(handler.opt.get("public")), key
        if key in documented:
            statuses = {rule.anonymous, *rule.own, *rule.other}
            missing = {str(s) for s in statuses} - set(documented[key]["responses"])
            assert not missing, f"{key} answers {missing} but does not document it"


async def seed_owner(client: httpx.AsyncClient, world: World, fresh: Fresh) -> Owner:
    coach = await login(client, world.coach)
    owner = Owner(world, "", "", "", coach)
    booked = await client.post("/api/v1/consultations", json=booking(owner, fresh.slot()), headers=coach)
    assert booked.status_code == 201, booked.text
    consultation = booked.json()
    attendees = {a["kind"]: a for a in consultation["attendees"]}
    owner.consultation_id = consultation["id"]
    owner.guest_attendee_id = attendees["guest"]["id"]
    owner.join_token = urlsplit(attendees["participant"]["join_url"]).path.rsplit("/", 1)[1]
    return owner


async def test_every_route_answers_every_caller_as_the_table_says(
    client: httpx.AsyncClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    fresh = Fresh()
    sessions = Sessions.of(settings)
    worlds = {
        "A": await seed_world(sessionmaker, name="Jobcenter A", prefix="a-"),
        "B": await seed_world(sessionmaker, name="Jobcenter B", prefix="b-"),
    }
    owners = {name: await seed_owner(client, world, fresh) for name, world in worlds.items()}
    callers: dict[tuple[str, str], dict[str, str]] = {}
    for (name, world), role in itertools.product(worlds.items(), ROLES):
        email = {"admin": world.admin, "coach": world.coach, "specialist": world.specialist}[role]
        callers[name, role] = await login(client, email)
        me = (await client.get("/api/v1/me", headers=callers[name, role])).json()
        user_id, organization_id = uuid.UUID(me["id"]), uuid.UUID(me["organization_id"])
        session, web_session = sessions.issue(user_id, organization_id, now())
        async with sessionmaker() as db, db.begin():
            await start_web_session(
                db,
                session_id=web_session.session_id,
                user_id=user_id,
                organization_id=organization_id,
                now=now(),
                lifetime=sessions.lifetime,
            )
        callers[name, role]["Cookie"] = f"{SESSION_COOKIE}={session}"

    wrong = []
    for key, rule in RULES.items():
        for owner_name, owner in owners.items():
            expected: list[tuple[str, dict[str, str], int]] = [("anonymous", {}, rule.anonymous)]
            for (caller_org, role), headers in callers.items():
                statuses = rule.own if caller_org == owner_name else rule.other
                expected.append((f"{role} of {caller_org}", headers, statuses[ROLES.index(role)]))
            for who, headers, status in expected:
                request = await rule.build(owner, fresh, client)
                response = await client.request(
                    request.method, request.path, json=request.json, params=request.params, headers=headers
                )
                if response.status_code != status:
                    wrong.append(f"{key} on {owner_name}'s objects by {who}: {response.status_code}, not {status}")
                if response.status_code >= 400:
                    kind = "text/html" if key in PAGES else "application/problem+json"
                    kind = "application/fhir+json" if key in FHIR else kind
                    assert response.headers["content-type"].startswith(kind), key
    assert not wrong, "\n".join(wrong)
