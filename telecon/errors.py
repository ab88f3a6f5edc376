"""Domain errors raised by services; the HTTP layer turns them into RFC 9457 problems."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None, source: str = "body") -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.source = source
        """Where ``field`` came from: ``body``, ``query``, ``path`` or ``header``."""


class BadRequest(DomainError):
    pass


class InvalidInput(DomainError):
    status_code = 422
    title = "Invalid input"


class NotAuthenticated(DomainError):
    status_code = 401
    title = "Not authenticated"


class Forbidden(DomainError):
    status_code = 403
    title = "Forbidden"


class NotFound(DomainError):
    """Also what another organization's object looks like: it does not exist for the caller."""

    status_code = 404
    title = "Not found"


class Conflict(DomainError):
    status_code = 409
    title = "Conflict"


class TooManyRequests(DomainError):
    status_code = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
