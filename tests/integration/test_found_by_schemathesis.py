"""What schemathesis (.ci/schemathesis.sh) found, each kept from coming back."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import httpx
import msgspec
from sqlalchemy import String

import telecon
from telecon.models import Base
from telecon.schemas import Strict
from tests.conftest import World, assert_problem, login

# Request fields that are never stored, or whose bound lives elsewhere.
UNSTORED = {
    ("LoginIn", "email"),  # only looked up
    ("UserCreate", "timezone"),  # checked against the IANA database with a length bound (issue 12, input branch)
}


def _request_structs() -> Iterator[type[Strict]]:
    for module in pkgutil.walk_packages(telecon.__path__, "telecon."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    pending = list(Strict.__subclasses__())
    while pending:
        struct = pending.pop()
        pending += struct.__subclasses__()
        yield struct


def test_every_request_string_fits_the_columns_of_its_name() -> None:
    """A string longer than its column is a 500 on PostgreSQL (SQLite does not care): refuse it as 422."""
    limits: dict[str, int] = {}
    for mapper in Base.registry.mappers:
        for column in mapper.columns:
            if isinstance(column.type, String) and column.type.length:
                limits[column.name] = min(limits.get(column.name, column.type.length), column.type.length)
    checked = 0
    for struct in _request_structs():
        for field in msgspec.inspect.type_info(struct).fields:  # type: ignore[attr-defined]
            kinds = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
            for kind in kinds:
                if isinstance(kind, msgspec.inspect.StrType) and field.name in limits:
                    checked += 1
                    if (struct.__name__, field.name) not in UNSTORED:
                        bound = kind.max_length
                        assert bound is not None, f"{struct.__name__}.{field.name} has no max_length"
                        assert bound <= limits[field.name], f"{struct.__name__}.{field.name}: {bound} > column"
    assert checked > 10


async def test_a_case_reference_longer_than_its_column_is_refused(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    too_long = await client.post(
        "/api/v1/participants", json={"display_name": "Neu", "case_reference": "0" * 65}, headers=coach
    )
    assert_problem(too_long, 422, "case_reference")
    fits = await client.post(
        "/api/v1/participants", json={"display_name": "Neu", "case_reference": "0" * 64}, headers=coach
    )
    assert fits.status_code == 201, fits.text


async def test_a_method_not_allowed_names_the_allowed_ones(client: httpx.AsyncClient, world: World) -> None:
    response = await client.request("TRACE", "/api/v1/me", headers=await login(client, world.coach))
    assert_problem(response, 405)
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET"}
