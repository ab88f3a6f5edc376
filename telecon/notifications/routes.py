from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from telecon.access import Role
from telecon.notifications import feeds, ics
from telecon.notifications.feeds import CalendarFeed, FeedPolicy
from telecon.openapi import problems
from telecon.problems import problem
from telecon.schemas import Out
from telecon.web import CurrentActor, DbSession, current_time

SPECIALISTS = {"roles": (Role.specialist,)}
FEED_SUFFIX = ".ics"


def _policy(state: State) -> FeedPolicy:
    """Set by ``create_app``; see ``telecon.app`` for why it is state, not a dependency."""
    policy: FeedPolicy = state.feed_policy
    return policy


class CalendarFeedOut(Out):
    url: str
    webcal_url: str
    """The same URL with the `webcal` scheme: calendar apps open it as a subscription."""
    created_at: datetime

    @classmethod
    def of(cls, feed: CalendarFeed, policy: FeedPolicy) -> CalendarFeedOut:
        return cls(
            url=policy.links.url(feed.token_nonce),
            webcal_url=policy.links.webcal_url(feed.token_nonce),
            created_at=feed.created_at,
        )


@get(
    "/api/v1/me/calendar-feed",
    opt=SPECIALISTS,
    responses=problems({404: "The caller has no calendar feed; create one with POST."}),
)
async def get_calendar_feed(db_session: DbSession, actor: CurrentActor, state: State) -> CalendarFeedOut:
    """The URL of the caller's own calendar feed.

    Subscribing to it shows the specialist's consultations in every organization they serve, in their own
    calendar app: neutral titles, their own join link, nothing about the participant. The URL is a secret.
    """
    policy = _policy(state)
    return CalendarFeedOut.of(await feeds.get_feed(db_session, actor), policy)


@post(
    "/api/v1/me/calendar-feed",
    opt=SPECIALISTS,
    responses=problems({409: "The feed was created by another request at the same moment; ask again."}),
)
async def create_calendar_feed(db_session: DbSession, actor: CurrentActor, state: State) -> CalendarFeedOut:
    """Create the caller's calendar feed, or give it a new URL.

    A new URL replaces the old one at once: calendars subscribed to the old URL get nothing more. Audited.
    """
    policy = _policy(state)
    feed = await feeds.regenerate_feed(db_session, actor, policy.links, now=current_time(state))
    return CalendarFeedOut.of(feed, policy)


@delete("/api/v1/me/calendar-feed", status_code=204)
async def revoke_calendar_feed(db_session: DbSession, actor: CurrentActor) -> None:
    """Revoke the caller's calendar feed: its URL stops working.

    Any role may revoke its own feed (a specialist may since have become a coach); without a feed nothing
    changes. Audited when there was one.
    """
    await feeds.revoke_feed(db_session, actor)


@get("/calendar/{token:str}", opt={"public": True}, include_in_schema=False)
async def calendar_feed(token: FromPath[str], db_session: DbSession, state: State) -> Response[Any]:
    """The calendar feed itself (`text/calendar`), for calendar apps: the token in the URL is the only credential.

    An unknown or revoked token is not found, without a word on why.
    """
    policy = _policy(state)
    events = None
    if token.endswith(FEED_SUFFIX):
        events = await feeds.feed_events(db_session, token.removesuffix(FEED_SUFFIX), policy, now=current_time(state))
    if events is None:
        return problem(404, "Not found")
    return Response(
        ics.feed(feeds.FEED_NAME, events),
        media_type="text/calendar",  # Litestar adds "; charset=utf-8"
        headers={"Referrer-Policy": "no-referrer"},
    )
