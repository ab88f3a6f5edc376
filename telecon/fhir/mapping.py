"""Consultations as FHIR R4 resources: pure functions from the scheduling service's views to JSON dicts.

What an ``Appointment`` carries is an allow-list, because a consultation of a health-and-work project is health
data in itself:

- its status, start, end and length, when it was booked, and the consultation type's name (``appointmentType``);
- the participant as a ``Patient`` reference by identifier: the job centre's case reference where the caller may
  read it (admins and coaches, as in ``/api/v1/participants``), else telecon's participant id; with the name the
  consultation's API answer shows the caller;
- the specialist as a ``Practitioner`` reference by telecon user id, with their name.

Never: the purpose (``reasonCode``/``description``/``comment``), the cancellation reason, outcomes or clinical
notes, the profession (it hints at the health problem), guests and coaches, and no join link — a join link is
a credential that opens the video room, not data about the appointment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telecon.scheduling.models import AttendeeKind, ConsultationStatus
from telecon.scheduling.services import ConsultationView

URI_SYSTEM = "urn:ietf:rfc:3986"
PARTICIPANT_SYSTEM = "urn:telecon:participant"
"""telecon's id of a participant: for a participant without a case reference, or a caller who may not see it."""
USER_SYSTEM = "urn:telecon:user"

STATUS = {
    ConsultationStatus.scheduled: "booked",
    ConsultationStatus.cancelled: "cancelled",
    ConsultationStatus.completed: "fulfilled",
    ConsultationStatus.no_show: "noshow",
}
"""telecon's status to the R4 ``AppointmentStatus`` code."""


def case_reference_system(organization_id: uuid.UUID) -> str:
    """Case references are the job centre's own numbers: unique only within one organization."""
    return f"urn:telecon:organization:{organization_id}:case-reference"


@dataclass(frozen=True, slots=True)
class Export:
    """One consultation as the export sees it: the service's view and the two facts the view lacks."""

    view: ConsultationView
    type_name: str
    case_reference: str | None
    """``None`` when the participant has none, or the caller may not see it."""


def instant(value: datetime) -> str:
    """An R4 ``instant``: UTC, whole seconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _identifier(system: str, value: str) -> dict[str, str]:
    return {"system": system, "value": value}


def _named(attendees: Iterable[Any], kind: AttendeeKind) -> str | None:
    return next((a.name for a in attendees if a.kind is kind), None)


def patient_reference(export: Export) -> dict[str, Any]:
    c = export.view.consultation
    if export.case_reference:
        identifier = _identifier(case_reference_system(c.organization_id), export.case_reference)
    else:
        identifier = _identifier(PARTICIPANT_SYSTEM, str(c.participant_id))
    reference: dict[str, Any] = {"type": "Patient", "identifier": identifier}
    if name := _named(export.view.attendees, AttendeeKind.participant):
        reference["display"] = name
    return reference


def practitioner_reference(export: Export) -> dict[str, Any]:
    c = export.view.consultation
    reference: dict[str, Any] = {"type": "Practitioner", "identifier": _identifier(USER_SYSTEM, str(c.specialist_id))}
    if name := _named(export.view.attendees, AttendeeKind.specialist):
        reference["display"] = name
    return reference


def appointment(export: Export) -> dict[str, Any]:
    """The R4 ``Appointment`` of one consultation (the allow-list is the module docstring)."""
    c = export.view.consultation
    minutes = int((c.ends_at - c.starts_at).total_seconds() // 60)
    # Both took part in the booking; a cancellation is the appointment's status, not a participant's answer.
    taking_part = {"required": "required", "status": "accepted"}
    return {
        "resourceType": "Appointment",
        "id": str(c.id),
        "meta": {"lastUpdated": instant(c.updated_at)},
        "identifier": [_identifier(URI_SYSTEM, f"urn:uuid:{c.id}")],
        "status": STATUS[c.status],
        "appointmentType": {"text": export.type_name},
        "start": instant(c.starts_at),
        "end": instant(c.ends_at),
        "minutesDuration": minutes,
        "created": instant(c.created_at),
        "participant": [
            {"actor": patient_reference(export), **taking_part},
            {"actor": practitioner_reference(export), **taking_part},
        ],
    }


def searchset(exports: Sequence[Export], *, base_url: str, self_url: str, more: bool, limit: int) -> dict[str, Any]:
    """A ``searchset`` Bundle; ``more``: the search matched more than ``limit``, which are left out.

    Then ``total`` is not stated (it is not known) and an ``OperationOutcome`` entry says so: narrow the dates.
    """
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{base_url}/Appointment/{e.view.consultation.id}",
            "resource": appointment(e),
            "search": {"mode": "match"},
        }
        for e in exports
    ]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if more:
        warning = f"more than {limit} appointments match; only the first {limit} are shown: narrow the date range"
        entries.append({"resource": operation_outcome("warning", "too-costly", warning), "search": {"mode": "outcome"}})
    else:
        bundle["total"] = len(exports)
    bundle["link"] = [{"relation": "self", "url": self_url}]
    bundle["entry"] = entries
    return bundle


ISSUE_CODE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported", 429: "throttled"}
"""An HTTP status to the R4 ``IssueType`` code of its OperationOutcome; anything else is ``exception``."""


def operation_outcome(severity: str, code: str, diagnostics: str, *, expression: Sequence[str] = ()) -> dict[str, Any]:
    """An R4 ``OperationOutcome`` with one issue; ``expression`` names the parameter or element concerned."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = list(expression)
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def error_outcome(status: int, diagnostics: str, *, expression: Sequence[str] = ()) -> dict[str, Any]:
    severity = "fatal" if status >= 500 else "error"
    return operation_outcome(severity, ISSUE_CODE.get(status, "exception"), diagnostics, expression=expression)
