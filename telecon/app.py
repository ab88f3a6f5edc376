"""The Litestar application factory."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.types import LifeSpanReceive, LifeSpanScope, LifeSpanSend, Receive, Scope, Send
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from telecon import openapi
from telecon.access import Actor
from telecon.audit import routes as audit_routes
from telecon.auth import routes as auth_routes
from telecon.auth.services import LoginPolicy
from telecon.calendars import routes as calendar_routes
from telecon.clock import Clock, system_clock
from telecon.crypto import KeyRing
from telecon.db import make_engine, make_sessionmaker
from telecon.fhir import routes as fhir_routes
from telecon.logs import redact_access_log, with_request_id
from telecon.notifications import routes as notification_routes
from telecon.notifications.feeds import FeedLinks, FeedPolicy, derive_feed_key
from telecon.notifications.mail import parse_sender
from telecon.openapi import AwareDatetimeSchema
from telecon.organizations import routes as organization_routes
from telecon.organizations import services as organizations
from telecon.outcomes import routes as outcome_routes
from telecon.participants import routes as participant_routes
from telecon.passwords import Passwords
from telecon.problems import exception_handlers, problem
from telecon.rights import routes as rights_routes
from telecon.scheduling import routes as scheduling_routes
from telecon.scheduling.links import JoinLinks, derive_link_key
from telecon.scheduling.services import SchedulingPolicy
from telecon.schemas import AwareDatetime, decode_aware_datetime, encode_aware_datetime, is_aware_datetime
from telecon.settings import Settings
from telecon.ui import admin as ui_admin
from telecon.ui import availability as ui_availability
from telecon.ui import booking as ui_booking
from telecon.ui import participants as ui_participants
from telecon.ui import routes as ui_routes
from telecon.ui import sheet as ui_sheet
from telecon.ui import specialist as ui_specialist
from telecon.ui import waitlist as ui_waitlist
from telecon.ui.sessions import Sessions
from telecon.video import routes as video_routes
from telecon.video.jitsi import JitsiConfig
from telecon.video.services import VideoPolicy
from telecon.waitlist import routes as waitlist_routes
from telecon.web import (
    MAX_BODY_BYTES,
    TeleconRequest,
    add_default_headers,
    make_jwt_auth,
    provide_session,
    token_caller,
)
from telecon.webhooks import routes as webhook_routes
from telecon.worker import InProcessJobs


def jitsi_config(settings: Settings) -> JitsiConfig:
    """HS256 with the app secret for a self-hosted Jitsi; RS256 with a private key for 8x8 JaaS."""
    key_file = settings.jitsi_private_key_file
    return JitsiConfig(
        domain=settings.jitsi_domain,
        app_id=settings.jitsi_app_id,
        app_secret=None if key_file else settings.jitsi_app_secret.get_secret_value(),
        sub=settings.jitsi_sub,
        private_key_pem=key_file.read_text() if key_file else None,
        kid=settings.jitsi_kid,
    )


@get("/health", opt={"public": True})
async def health() -> dict[str, str]:
    """Liveness: the process serves requests.

    Touches nothing else, so a slow database does not get a healthy process restarted; see ``/ready``.
    """
    return {"status": "ok"}


@get("/ready", opt={"public": True}, responses=openapi.problems({503: "The database or Redis does not answer."}))
async def ready(db_session: NamedDependency[AsyncSession], state: State) -> Response[dict[str, Any]]:
    """Readiness: the database answers, and Redis too where the worker's queue lives.

    A load balancer sends traffic only to a process that is ready; 503 otherwise.
    """
    try:
        await db_session.execute(text("SELECT 1"))
    except Exception:
        # Rolled back here: the request's commit after a failed statement would be a 500, not this 503.
        with contextlib.suppress(Exception):
            await db_session.rollback()
        return problem(503, "Not ready", "the database does not answer")
    if state.redis is not None:
        try:
            await state.redis.ping()
        except Exception:
            return problem(503, "Not ready", "Redis does not answer")
    return Response({"status": "ready"})


async def provide_actor(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Actor:
    """The ``actor`` dependency: the token's caller, with the membership checked again in the request's own
    transaction (so a removed or deactivated membership stops its tokens at once)."""
    caller = token_caller(request)
    return caller.verified(await organizations.role_in(db_session, caller.user_id, caller.organization_id))


def freeze_startup_heap() -> None:
    """Hide everything alive before serving (modules, mappers, the app) from the cyclic garbage collector.

    Under load a full collection otherwise walks that whole heap every second or so and stops the server
    for tens of milliseconds; in bench/ that was the difference between a booking p99 of about 135 ms and
    under 100 ms. Objects created later are collected as usual. Call it once, just before serving.
    """
    gc.collect()
    gc.freeze()


class TeleconApp(Litestar):
    """Litestar with a request id around everything it does (``telecon.logs.with_request_id``)."""

    async def __call__(
        self, scope: Scope | LifeSpanScope, receive: Receive | LifeSpanReceive, send: Send | LifeSpanSend
    ) -> None:
        await with_request_id(super().__call__, scope, receive, send)


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> TeleconApp:
    """The app; ``clock`` is where every rule that compares with now reads the time (tests pin it)."""
    settings = settings or Settings()
    jwt_auth = make_jwt_auth(settings)

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        redact_access_log()  # here, after the server has configured its loggers
        engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        jobs = None
        app.state.redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        if settings.redis_url is None:
            jobs = InProcessJobs(app.state.sessionmaker, settings, clock)
            jobs.start()
        try:
            yield
        finally:
            if jobs is not None:
                await jobs.stop(grace=settings.shutdown_seconds)
            if app.state.redis is not None:
                await app.state.redis.aclose()
            await engine.dispose()

    links = JoinLinks(derive_link_key(settings.secret_key.get_secret_value()), settings.public_url)
    policy = SchedulingPolicy.of(settings, links)
    feed_policy = FeedPolicy(
        links=FeedLinks(derive_feed_key(settings.secret_key.get_secret_value()), settings.public_url),
        join_links=links,
        host=urlsplit(settings.public_url).hostname or "telecon.invalid",  # as the relay's, for the same UIDs
        organizer=parse_sender(settings.mail_from),
    )
    video = VideoPolicy(
        links=links,
        jitsi=jitsi_config(settings),
        opens_before=timedelta(minutes=settings.join_opens_minutes),
        closes_after=timedelta(minutes=settings.join_closes_minutes),
        max_misses_per_address=settings.join_max_misses_per_address,
    )

    app = TeleconApp(
        route_handlers=[
            ui_routes.routes,
            ui_booking.routes,
            ui_participants.routes,
            ui_availability.routes,
            ui_admin.routes,
            ui_specialist.routes,
            ui_sheet.routes,
            ui_waitlist.routes,
            openapi.static_files(),
            health,
            ready,
            auth_routes.login,
            auth_routes.me,
            organization_routes.create_user,
            organization_routes.list_users,
            organization_routes.accept_invitation,
            organization_routes.decline_invitation,
            organization_routes.list_specialists,
            organization_routes.get_specialist,
            organization_routes.deactivate_user,
            organization_routes.reactivate_user,
            organization_routes.end_membership,
            participant_routes.create_participant,
            participant_routes.list_participants,
            participant_routes.get_participant,
            scheduling_routes.update_participant,
            participant_routes.record_consent,
            participant_routes.consent_history,
            participant_routes.add_note,
            outcome_routes.case_file,
            rights_routes.export_participant,
            rights_routes.erase_participant,
            scheduling_routes.list_consultation_types,
            scheduling_routes.create_consultation_type,
            scheduling_routes.set_availability,
            scheduling_routes.get_availability,
            scheduling_routes.add_override,
            scheduling_routes.remove_override,
            scheduling_routes.list_overrides,
            calendar_routes.connect_calendar,
            calendar_routes.get_calendar,
            calendar_routes.sync_calendar,
            calendar_routes.disconnect_calendar,
            scheduling_routes.find_slots,
            scheduling_routes.book_consultation,
            scheduling_routes.list_consultations,
            scheduling_routes.get_consultation,
            scheduling_routes.reschedule_consultation,
            scheduling_routes.cancel_consultation,
            scheduling_routes.resend_invitation,
            waitlist_routes.add_to_waitlist,
            waitlist_routes.list_waitlist,
            waitlist_routes.get_waitlist_entry,
            waitlist_routes.confirm_hold,
            waitlist_routes.withdraw_from_waitlist,
            audit_routes.list_audit_events,
            video_routes.join_info,
            video_routes.join_page,
            video_routes.reissue_link,
            outcome_routes.record_outcome,
            outcome_routes.read_outcome,
            outcome_routes.outcome_versions,
            outcome_routes.record_outcome_by_link,
            outcome_routes.missing_outcomes,
            outcome_routes.own_outcomes,
            notification_routes.get_calendar_feed,
            notification_routes.create_calendar_feed,
            notification_routes.revoke_calendar_feed,
            notification_routes.calendar_feed,
            webhook_routes.create_webhook,
            webhook_routes.list_webhooks,
            webhook_routes.delete_webhook,
            webhook_routes.webhook_deliveries,
            fhir_routes.read_appointment,
            fhir_routes.search_appointments,
        ],
        dependencies={
            "db_session": Provide(provide_session),
            "actor": Provide(provide_actor),
        },
        lifespan=[database],
        on_app_init=[jwt_auth.on_app_init],
        exception_handlers=exception_handlers,
        request_class=TeleconRequest,
        request_max_body_size=MAX_BODY_BYTES,
        type_decoders=[(is_aware_datetime, decode_aware_datetime)],
        type_encoders={AwareDatetime: encode_aware_datetime},
        before_send=[add_default_headers],
        plugins=[openapi.ClosedStructs(), AwareDatetimeSchema()],
        openapi_config=openapi.openapi_config(),
        # Application-wide objects are state, not dependencies: Litestar resolves two or more independent
        # dependencies of a handler in an anyio task group, which cost every booking 0.2 ms, about a tenth
        # of its CPU (measured). Only the session and the acting user are dependencies.
        state=State(
            {
                "settings": settings,
                "clock": clock,
                "scheduling_policy": policy,
                "video_policy": video,
                "feed_policy": feed_policy,
                "key_ring": KeyRing.from_settings(settings),
                "jwt_auth": jwt_auth,
                "login_policy": LoginPolicy.of(settings),
                "web_sessions": Sessions.of(settings),
                "passwords": Passwords(settings.password_hashing_concurrency),
            }
        ),
        debug=False,
        # Logging is the process's (telecon.logs.configure), not the app's: Litestar would replace the root
        # logger's handlers with its own.
        logging_config=None,
    )
    openapi.describe(app)
    return app
