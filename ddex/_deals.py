"""DealList -> ``Deal`` records for both major versions, in one tight pass over the elements.

Deals dominate big messages (one Deal per territory and commercial model: 747 in a DDEX
single), so this loop visits each DealTerms child once and dispatches on its tag instead of
asking lxml for one path at a time (each ``find`` compiles an ElementPath; that cost six
times the XML parse on the DDEX samples).

UseType sits in Usage in ERN 3 and directly in DealTerms in ERN 4; both are taken.
"""

from __future__ import annotations

from lxml import etree

from ddex._text import TRUE_TEXTS, typed_value
from ddex.model import Deal, Loc

START_TAGS = frozenset({"StartDate", "StartDateTime"})
END_TAGS = frozenset({"EndDate", "EndDateTime"})


def _terms(refs: tuple[str, ...], terms: etree._Element, loc: Loc) -> Deal:
    territories: list[str] = []
    excluded: list[str] = []
    uses: list[str] = []
    models: list[str] = []
    start = end = None
    takedown = False
    period_seen = False
    for child in terms:
        tag = child.tag
        if tag == "TerritoryCode":
            code = child.text
            if code and (code := code.strip()):
                territories.append(code)
        elif tag == "UseType" or tag == "CommercialModelType":
            value = typed_value(child)
            if value:
                (uses if tag == "UseType" else models).append(value)
        elif tag == "Usage":
            uses.extend(v for v in map(typed_value, child.iterchildren("UseType")) if v)
        elif tag == "ExcludedTerritoryCode":
            code = child.text
            if code and (code := code.strip()):
                excluded.append(code)
        elif tag == "TakeDown":
            takedown = (typed_value(child) or "").lower() in TRUE_TEXTS
        elif tag == "ValidityPeriod" and not period_seen:
            period_seen = True
            for part in child:
                if part.tag in START_TAGS:
                    start = start or typed_value(part)
                elif part.tag in END_TAGS:
                    end = end or typed_value(part)
    return Deal(
        release_references=refs,
        territories=tuple(territories),
        excluded_territories=tuple(excluded),
        use_types=tuple(uses),
        commercial_model_types=tuple(models),
        start=start,
        end=end,
        takedown=takedown,
        loc=loc,
    )


def map_deals(deal_list: etree._Element | None, root_path: str) -> tuple[tuple[Deal, ...], bool]:
    """Every ReleaseDeal/Deal/DealTerms as one ``Deal``; and whether there is a DealList."""
    if deal_list is None:
        return (), False
    deals: list[Deal] = []
    for rd_index, release_deal in enumerate(deal_list.iterchildren("ReleaseDeal"), start=1):
        refs = tuple(
            v for v in map(typed_value, release_deal.iterchildren("DealReleaseReference")) if v
        )
        for d_index, deal in enumerate(release_deal.iterchildren("Deal"), start=1):
            path = f"{root_path}/DealList/ReleaseDeal[{rd_index}]/Deal[{d_index}]"
            loc = Loc(path, deal.sourceline)
            deals.extend(_terms(refs, terms, loc) for terms in deal.iterchildren("DealTerms"))
    return tuple(deals), True
