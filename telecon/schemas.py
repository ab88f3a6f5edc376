"""Wire types shared by the domains' schemas: strict structs and constrained scalars."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Request bodies: an allow-list; an unknown field is an error, not silently dropped."""


class Out(msgspec.Struct, kw_only=True):
    """Response bodies: only the fields listed, so a new column never leaks by default."""


AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True, description="ISO 8601 with an offset")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Language = Annotated[str, msgspec.Meta(min_length=2, max_length=16, pattern=r"^[a-z]{2,3}(-[a-zA-Z0-9]{1,8})*$")]
Text = Annotated[str, msgspec.Meta(max_length=4000)]
