"""Reading element text the way ERN means it: trimmed, empty as absent, UserDefined resolved."""

from __future__ import annotations

from lxml import etree

USER_DEFINED = "UserDefined"
TRUE_TEXTS = frozenset({"true", "1"})
FALSE_TEXTS = frozenset({"false", "0"})


def own_text(el: etree._Element | None) -> str | None:
    """The element's stripped text; None when absent or only whitespace."""
    if el is None:
        return None
    value = el.text
    if value is None:
        return None
    value = value.strip()
    return value or None


def typed_value(el: etree._Element | None) -> str | None:
    """An allowed-value element's value, taking UserDefinedValue when the text is UserDefined."""
    value = own_text(el)
    if value == USER_DEFINED and el is not None:
        return el.get("UserDefinedValue") or value
    return value
