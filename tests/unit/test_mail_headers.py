"""A name or subject can never add a header to a message, whatever reached the database."""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, datetime

from telecon.notifications.content import Rendered
from telecon.notifications.mail import build, message_id


def test_line_breaks_in_names_and_subjects_do_not_make_headers() -> None:
    rendered = Rendered(
        subject="Einladung\r\nBcc: victim@example.org",
        text="Hallo",
        html="<p>Hallo</p>",
        calendar=None,
        method=None,
        language="de",
        direction="ltr",
    )
    outbox_id = uuid.uuid4()
    message = build(
        rendered,
        outbox_id=outbox_id,
        host="telecon.example",
        sender=("telecon", "no-reply@telecon.example"),
        recipient=("Maria\r\nBcc: spy@example.org", "maria@example.org"),
        reply_to=("Coach\nX-Injected: yes", "coach@example.org"),
        now=datetime(2027, 3, 1, tzinfo=UTC),
    )
    parsed = email.message_from_bytes(bytes(message), policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert parsed["X-Injected"] is None
    assert [a.addr_spec for a in parsed["To"].addresses] == ["maria@example.org"]
    assert parsed["Message-ID"] == message_id(outbox_id, "telecon.example") == f"<{outbox_id}@telecon.example>"
    assert parsed["Auto-Submitted"] == "auto-generated"
