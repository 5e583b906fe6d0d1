"""The one error type the service functions raise for refusals a client can act on."""

from __future__ import annotations


class ServiceError(Exception):
    """A refused request: `status` is the HTTP status, `field` names what is wrong."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = message
