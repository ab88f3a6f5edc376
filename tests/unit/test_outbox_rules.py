"""Which emails a change writes: the rule of ``telecon.outbox.messages``, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from telecon.notifications.relay import backoff
from telecon.outbox.messages import Recipient, for_change
from telecon.outbox.models import Topic

START = datetime(2027, 3, 29, 7, 0, tzinfo=UTC)  # the Monday after the spring change, 09:00 in Berlin
LEADS = (timedelta(hours=24), timedelta(hours=1))


def recipients() -> list[Recipient]:
    return [
        Recipient(uuid.uuid4(), "participant", True),
        Recipient(uuid.uuid4(), "specialist", True),
        Recipient(uuid.uuid4(), "guest", True),
        Recipient(uuid.uuid4(), "guest", False),  # no address: nothing at all
    ]


def written(verb: str, now: datetime, people: list[Recipient]) -> list[tuple[str, str, datetime]]:
    kind = {r.attendee_id: r.kind for r in people}
    rows = for_change(
        verb,
        organization_id=uuid.uuid4(),
        consultation_id=uuid.uuid4(),
        sequence=0,
        starts_at=START,
        recipients=people,
        reminder_leads=LEADS,
        now=now,
    )
    return [(kind[r.attendee_id], r.topic, r.next_attempt_at) for r in rows if r.attendee_id is not None]


def test_a_booking_invites_everyone_with_an_address_and_reminds_participant_and_guests() -> None:
    now = START - timedelta(days=7)
    rows = written("booked", now, recipients())
    assert sorted(rows) == sorted(
        [
            ("participant", Topic.invitation, now),
            ("participant", Topic.reminder, START - timedelta(hours=24)),
            ("participant", Topic.reminder, START - timedelta(hours=1)),
            ("specialist", Topic.invitation, now),
            ("guest", Topic.invitation, now),
            ("guest", Topic.reminder, START - timedelta(hours=24)),
            ("guest", Topic.reminder, START - timedelta(hours=1)),
        ]
    )


def test_a_reminder_whose_time_has_passed_is_not_written() -> None:
    rows = written("booked", START - timedelta(hours=3), recipients())
    reminders = [due for kind, topic, due in rows if topic == Topic.reminder]
    assert reminders == [START - timedelta(hours=1)] * 2  # the 1 h ones only, participant and guest


def test_a_cancellation_reminds_nobody() -> None:
    rows = written("cancelled", START - timedelta(days=2), recipients())
    assert sorted(topic for _, topic, _ in rows) == [Topic.cancelled] * 3


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(50) == timedelta(hours=2)
