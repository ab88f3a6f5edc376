"""Import every domain's models so that ``Base.metadata`` knows all tables (Alembic, tests)."""

from telecon.audit.models import AuditEvent
from telecon.auth.models import FailedAttempt, KnownAddress
from telecon.calendars.models import BusyPeriod, CalendarSource
from telecon.db import Base
from telecon.notifications.feeds import CalendarFeed
from telecon.organizations.models import Membership, MembershipInvitation, Organization, User, WebSession
from telecon.outbox.models import OutboxMessage
from telecon.outcomes.models import Outcome, OutcomeVersion
from telecon.participants.models import CaseFileEntry, Consent, Participant
from telecon.scheduling.models import (
    Attendee,
    AvailabilityOverride,
    AvailabilityRule,
    Consultation,
    ConsultationType,
    IdempotencyKey,
)
from telecon.waitlist.models import WaitlistEntry
from telecon.webhooks.models import WebhookSubscription

__all__ = [
    "Attendee",
    "AuditEvent",
    "AvailabilityOverride",
    "AvailabilityRule",
    "Base",
    "BusyPeriod",
    "CalendarFeed",
    "CalendarSource",
    "CaseFileEntry",
    "Consent",
    "Consultation",
    "ConsultationType",
    "FailedAttempt",
    "IdempotencyKey",
    "KnownAddress",
    "Membership",
    "MembershipInvitation",
    "Organization",
    "OutboxMessage",
    "Outcome",
    "OutcomeVersion",
    "Participant",
    "User",
    "WaitlistEntry",
    "WebSession",
    "WebhookSubscription",
]
