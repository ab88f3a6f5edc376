"""``/fhir``: consultations as FHIR R4 ``Appointment`` resources, for a job centre's or a practice's FHIR client.

The same bearer token and the same rules as ``/api/v1/consultations``; every answer, errors included, is
``application/fhir+json; fhirVersion=4.0``: errors are ``OperationOutcome`` resources, not problem details.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import FromPath, QueryParameter

from telecon.errors import DomainError, NotFound
from telecon.fhir import mapping, search, services
from telecon.openapi import outcomes
from telecon.problems import FHIR_MEDIA_TYPE, field_of
from telecon.scheduling.services import LIST_LIMIT
from telecon.settings import Settings
from telecon.web import CurrentActor, DbSession

log = logging.getLogger("telecon.http")
FHIR = {"fhir": True}
"""Marks the FHIR routes for ``telecon.openapi``: OperationOutcome errors, 400 for bad parameters."""


def outcome(status: int, diagnostics: str, *, expression: tuple[str, ...] = ()) -> Response[dict[str, Any]]:
    body = mapping.error_outcome(status, diagnostics, expression=expression)
    return Response(body, status_code=status, media_type=FHIR_MEDIA_TYPE)


def _on_validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    # A FHIR server answers a bad search parameter with 400 (R4 3.1.0.2.1), where the API says 422.
    names = tuple(name for item in exc.extra or [] if isinstance(item, dict) and (name := field_of(item)))
    return outcome(400, f"invalid parameter: {', '.join(names) or 'the request'}", expression=names)


def _on_domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    expression = (exc.field,) if exc.field and exc.source == "query" else ()
    response = outcome(exc.status_code, exc.detail, expression=expression)
    if retry_after := getattr(exc, "retry_after", None):
        response.headers["Retry-After"] = str(retry_after)
    return response


def _on_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    response = outcome(exc.status_code, exc.detail or "error")
    response.headers.update(exc.headers or {})
    return response


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    route = request.scope.get("path_template", "?")  # the template only: a URL can carry a case reference
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, route, exc_info=exc)
    return outcome(500, "something went wrong on our side")


OUTCOMES: dict[int | type[Exception], Any] = {
    ValidationException: _on_validation,
    DomainError: _on_domain_error,
    HTTPException: _on_http_exception,
    Exception: _on_unexpected,
}
"""Route-level handlers: they replace the app's problem+json ones (``telecon.problems``) on ``/fhir``, the bearer
token's check included (Litestar hands a route's own handlers the errors of the middleware before it)."""


def _base_url(state: State) -> str:
    settings: Settings = state.settings
    return settings.public_url.rstrip("/") + "/fhir"


@get(
    "/fhir/Appointment/{appointment_id:str}",
    opt=FHIR,
    media_type=FHIR_MEDIA_TYPE,
    exception_handlers=OUTCOMES,
    responses=outcomes({404: "No such Appointment the caller may see: another organization's are not found."}),
)
async def read_appointment(
    appointment_id: FromPath[str], db_session: DbSession, actor: CurrentActor
) -> Response[dict[str, Any]]:
    """One consultation as a FHIR R4 Appointment.

    The participant is a `Patient` reference by identifier (the case reference for admins and coaches, else
    telecon's participant id), the specialist a `Practitioner` reference. No purpose, cancellation reason,
    outcome, clinical note or join link is exported. The rules of `GET /api/v1/consultations/{id}`: another
    organization's consultation is not found, a specialist finds only their own.
    """
    try:
        consultation_id = uuid.UUID(appointment_id)
    except ValueError:
        raise NotFound("no such Appointment", field="appointment_id", source="path") from None
    export = await services.read_appointment(db_session, actor, consultation_id)
    return Response(mapping.appointment(export), media_type=FHIR_MEDIA_TYPE)


PatientParameter = Annotated[
    str | None,
    QueryParameter(
        description="A case reference, `urn:telecon:organization:<id>:case-reference|<value>` or "
        "`urn:telecon:participant|<participant id>`.",
    ),
]
DateParameter = Annotated[
    list[str] | None,
    QueryParameter(
        description="The start: `YYYY`, `YYYY-MM`, `YYYY-MM-DD` (a day of the organization's time zone) or an "
        "instant with an offset, with an optional prefix `eq`, `ge`, `gt`, `le` or `lt`; repeat to bound both ends.",
    ),
]
CountParameter = Annotated[
    str | None,
    QueryParameter(name="_count", description=f"At most this many appointments, 1 to {LIST_LIMIT} (the default)."),
]


@get(
    "/fhir/Appointment",
    opt=FHIR,
    media_type=FHIR_MEDIA_TYPE,
    exception_handlers=OUTCOMES,
    responses=outcomes({403: "A specialist searched by case reference: only admins and coaches read participants."}),
)
async def search_appointments(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
    patient: PatientParameter = None,
    date: DateParameter = None,
    count: CountParameter = None,
) -> Response[dict[str, Any]]:
    """Search consultations as FHIR R4 Appointments: a searchset Bundle.

    `patient` by case reference (admins and coaches: they may read participants) or by telecon participant id;
    `date` compares the start, e.g. `date=ge2027-03-01&date=lt2027-03-08`. Soonest first, at most 500 as in
    `GET /api/v1/consultations`; when more match, `total` is left out and an OperationOutcome entry warns.
    An unknown parameter is refused (400), not ignored. A specialist finds only their own consultations.
    """
    for name in request.query_params:
        if name not in search.PARAMETERS:
            raise search.invalid(name, f"the search parameter {name!r} is not supported")
    if len(request.query_params.getall("patient", [])) > 1:
        raise search.invalid("patient", "give patient once")
    limit = search.count(count, LIST_LIMIT)
    query = search.patient_query(patient, actor.organization_id) if patient is not None else None
    starts = (
        search.start_range(date, await services.organization_zone(db_session, actor)) if date else search.StartRange()
    )
    exports, more = await services.search_appointments(db_session, actor, patient=query, starts=starts, limit=limit)
    base = _base_url(state)
    self_url = f"{base}/Appointment" + (f"?{request.url.query}" if request.url.query else "")
    bundle = mapping.searchset(exports, base_url=base, self_url=self_url, more=more, limit=limit)
    return Response(bundle, media_type=FHIR_MEDIA_TYPE)
