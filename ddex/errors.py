"""The one exception the library raises for input it cannot read as an ERN message."""

from __future__ import annotations


class ErnReadError(ValueError):
    """The bytes are not a readable ERN message (not XML, hostile, unsupported version...).

    Everything short of this is reported as a Finding, so callers only need to catch this
    one type to tell "not an ERN message" from "an ERN message with problems".
    """

    def __init__(self, reason: str, *, source: str = "<bytes>", line: int | None = None) -> None:
        self.reason = reason
        self.source = source
        self.line = line
        where = source if line is None else f"{source}, line {line}"
        super().__init__(f"{where}: {reason}")
