from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from telecon.access import Role
from telecon.addresses import client_address
from telecon.dates import local_when
from telecon.errors import NotFound, TooManyRequests
from telecon.openapi import problems
from telecon.outcomes.models import Attendance, RecommendationCode, WorkCapacity
from telecon.outcomes.services import LINK_WRITES_FOR
from telecon.pages import browser_language, notice_page
from telecon.scheduling.models import AttendeeKind
from telecon.scheduling.schemas import AttendeeOut
from telecon.scheduling.services import visible_join_url
from telecon.schemas import Out
from telecon.settings import Settings
from telecon.templating import pick_language, render, script_json, texts
from telecon.video import services
from telecon.video.services import JoinInfo, VideoPolicy
from telecon.web import CurrentActor, DbSession, current_time


def _video(state: State) -> VideoPolicy:
    """Set by ``create_app``; see ``telecon.app`` for why it is state, not a dependency."""
    video: VideoPolicy = state.video_policy
    return video


def _settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


UNKNOWN_LINK = "this join link is unknown or was replaced; ask your coach for the current one"


class JoinOut(Out):
    status: str
    opens_at: datetime
    closes_at: datetime
    starts_at: datetime
    ends_at: datetime
    domain: str
    room: str
    role: str
    display_name: str
    jwt: str | None


@get(
    "/api/v1/join/{token:str}",
    opt={"public": True},
    responses=problems(
        {
            404: "The join link is unknown or was replaced.",
            429: "Too many unknown join links from this address; `Retry-After` says when to retry.",
        }
    ),
)
async def join_info(
    token: FromPath[str], request: Request[Any, Any, Any], db_session: DbSession, state: State
) -> JoinOut:
    """What a personal join link allows right now.

    The token from the invitation is the only credential. `status` is `early`, `open`, `ended` or
    `cancelled`; only while open does the answer carry a Jitsi `jwt` for the room, valid until `closes_at`.
    """
    info, _ = await _open(request, db_session, state, token)
    if info is None:
        raise NotFound(UNKNOWN_LINK, field="token")
    return JoinOut(
        status=info.status,
        opens_at=info.opens_at,
        closes_at=info.closes_at,
        starts_at=info.starts_at,
        ends_at=info.ends_at,
        domain=info.domain,
        room=info.room,
        role=info.role.value,
        display_name=info.display_name,
        jwt=info.jwt,
    )


@get("/join/{token:str}", opt={"public": True}, include_in_schema=False)
async def join_page(
    token: FromPath[str], request: Request[Any, Any, Any], db_session: DbSession, state: State
) -> Response[str]:
    """The page people open from their invitation, on a phone or a laptop, without an account.

    A link that fails gets a page in words too (404, or 429 after too many unknown links from one address): in
    the person's language when the link is known, else in the browser's.
    """
    settings = _settings(state)
    try:
        info, now = await _open(request, db_session, state, token)
    except TooManyRequests as refused:
        # Only unknown links are throttled (a valid one always opens), so this is someone mistyping or guessing.
        throttled = notice_page(browser_language(request), "link_throttled_title", ["link_throttled"], status_code=429)
        throttled.headers["Retry-After"] = str(refused.retry_after)
        return throttled
    if info is None:
        return notice_page(browser_language(request), "link_unknown_title", ["link_unknown"], status_code=404)
    language = pick_language(info.language)
    if info.withdrawn:
        return notice_page(language, "link_withdrawn_title", ["link_withdrawn"], status_code=404)
    nonce = secrets.token_urlsafe(16)
    api_url = settings.external_api_url
    jitsi_origin = "{0.scheme}://{0.netloc}".format(urlsplit(api_url))
    t = texts(language)
    outcome = _outcome_form(info, token, now)
    script_texts = {k: t[k] for k in ("countdown", "countdown_ready", "units") if k in t} | {
        k: v for k, v in t.items() if k.startswith("check_")
    }
    if outcome:
        script_texts["outcome_form"] = outcome["t"]
    page = render(
        "pages/join.html.j2",
        t=t,
        lang=language,
        direction=t["direction"],
        info=info,
        nonce=nonce,
        external_api_url=api_url,
        local=lambda instant: local_when(instant, info.timezone, language),
        outcome=outcome,
        config_json=script_json(_page_config(info, language, now) | {"outcomeUrl": outcome and outcome["url"]}),
        texts_json=script_json(script_texts),
    )
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src 'nonce-{nonce}' {jitsi_origin}",
            f"frame-src {jitsi_origin}",
            f"style-src 'nonce-{nonce}'",
            "img-src 'self' data:",
            "media-src 'self' blob:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    headers = {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Permissions-Policy": ", ".join(
            f"{feature}=(self {jitsi_origin})" for feature in ("camera", "microphone", "display-capture")
        ),
    }
    return Response(page, media_type=MediaType.HTML, headers=headers)


STAFF_LANGUAGES = ("de", "en")
"""The outcome form is for the specialist, who reads German or English; any other page language gets German."""


def _outcome_form(info: JoinInfo, token: str, now: datetime) -> dict[str, Any] | None:
    """What the specialist's page needs for the outcome form, or ``None`` where the page offers none.

    Only the specialist's page, once the consultation has started and as long as the link may record an
    outcome (as ``telecon.outcomes.services.link_actor`` allows).
    """
    if info.kind is not AttendeeKind.specialist or info.status not in ("open", "ended"):
        return None
    until = info.ends_at + LINK_WRITES_FOR
    if not info.starts_at <= now <= until:
        return None
    language = info.language.split("-")[0]
    language = language if language in STAFF_LANGUAGES else STAFF_LANGUAGES[0]
    return {
        "t": texts(language)["outcome_form"],
        "lang": language,
        "until": local_when(until, info.timezone, language),
        "url": f"/api/v1/join/{quote(token, safe='')}/outcome",
        "attendance": [a.value for a in Attendance],
        "recommendations": [c.value for c in RecommendationCode],
        # Not assessed is the default, so it comes first.
        "work_capacity": sorted((w.value for w in WorkCapacity), key=lambda w: w != WorkCapacity.not_assessed),
    }


def _page_config(info: JoinInfo, language: str, now: datetime) -> dict[str, Any]:
    return {
        "status": info.status,
        # The countdown runs on the server's clock: a phone's own may be wrong.
        "now": now.isoformat(timespec="milliseconds"),
        "opensAt": info.opens_at.isoformat(),
        "closesAt": info.closes_at.isoformat(),
        "startsAt": info.starts_at.isoformat(),
        "domain": info.domain,
        "room": info.room,
        "jwt": info.jwt,
        "moderator": info.role.value == "moderator",
        "displayName": info.display_name,
        "language": language.split("-")[0],
    }


async def _open(
    request: Request[Any, Any, Any], db_session: Any, state: State, token: str
) -> tuple[JoinInfo | None, datetime]:
    """What the link shows now, and that now; ``None`` for an unknown link, whose miss is committed."""
    now = current_time(state)
    info = await services.open_join(db_session, _video(state), token, remote_address=client_address(request), now=now)
    if info is None:
        await db_session.commit()  # the miss must count even though the request fails
    return info, now


@post(
    "/api/v1/consultations/{consultation_id:uuid}/attendees/{attendee_id:uuid}/reissue",
    status_code=200,
    opt={"roles": (Role.admin, Role.coach)},
    responses=problems({409: "The consultation is cancelled or completed."}),
)
async def reissue_link(
    consultation_id: FromPath[uuid.UUID],
    attendee_id: FromPath[uuid.UUID],
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
) -> AttendeeOut:
    """Replace one attendee's join link.

    For an invitation that was forwarded or lost: the old link stops working at once, and the new one is
    emailed to the attendee (when they have an address and, for the participant, the `email_contact` consent).
    """
    video = _video(state)
    attendee = await services.reissue_link(
        db_session, actor, video.links, consultation_id, attendee_id, now=current_time(state)
    )
    return AttendeeOut.of(attendee, visible_join_url(video.links, actor, attendee))
