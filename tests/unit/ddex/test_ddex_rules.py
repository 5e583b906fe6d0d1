"""Validation rules on built messages: each fault gives its finding, a clean message none."""

from __future__ import annotations

from datetime import date

import pytest

import ddex

ERN382_TAKEDOWN = b"""<?xml version="1.0" encoding="UTF-8"?>
<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/382" MessageSchemaVersionId="ern/382">
  <MessageHeader>
    <MessageThreadId>T</MessageThreadId><MessageId>M</MessageId>
    <MessageSender><PartyId>PADPIDA2013042401U</PartyId></MessageSender>
    <MessageRecipient><PartyId>PADPIDA2009101501Y</PartyId></MessageRecipient>
    <MessageCreatedDateTime>2025-01-01T00:00:00Z</MessageCreatedDateTime>
  </MessageHeader>
  <UpdateIndicator>UpdateMessage</UpdateIndicator>
  <ResourceList>
    <SoundRecording>
      <SoundRecordingId><ISRC>QZABC2500001</ISRC></SoundRecordingId>
      <ResourceReference>A1</ResourceReference>
      <ReferenceTitle><TitleText>Song</TitleText></ReferenceTitle>
      <Duration>PT3M</Duration>
    </SoundRecording>
  </ResourceList>
  <ReleaseList>
    <Release IsMainRelease="true">
      <ReleaseId><ICPN>4006381333931</ICPN></ReleaseId>
      <ReleaseReference>R0</ReleaseReference>
      <ReferenceTitle><TitleText>Single</TitleText></ReferenceTitle>
      <ReleaseResourceReferenceList>
        <ReleaseResourceReference ReleaseResourceType="PrimaryResource"
          >A1</ReleaseResourceReference>
      </ReleaseResourceReferenceList>
      <ReleaseType>Single</ReleaseType>
    </Release>
  </ReleaseList>
  <DealList>
    <ReleaseDeal>
      <DealReleaseReference>R0</DealReleaseReference>
      <Deal><DealTerms><TakeDown>true</TakeDown><TerritoryCode>DE</TerritoryCode>
        <ValidityPeriod><StartDate>2024-01-01</StartDate></ValidityPeriod></DealTerms></Deal>
      <Deal><DealTerms><TerritoryCode>FR</TerritoryCode>
        <Usage><UseType>OnDemandStream</UseType></Usage>
        <ValidityPeriod><StartDate>2024-01-01</StartDate></ValidityPeriod></DealTerms></Deal>
    </ReleaseDeal>
  </DealList>
</ern:NewReleaseMessage>
"""
TODAY = date(2025, 6, 1)


def _codes(data: bytes) -> dict[str, list[ddex.Finding]]:
    out: dict[str, list[ddex.Finding]] = {}
    for finding in ddex.inspect(data)[1]:
        out.setdefault(finding.code, []).append(finding)
    return out


def test_a_clean_built_message_has_no_findings(ern432) -> None:
    assert ddex.inspect(ern432([{}, {"ref": "A2", "isrc": "QZABC2500002"}]))[1] == []


def test_invalid_duration_is_a_finding_not_a_crash(ern432) -> None:
    message = ddex.read_message(ern432([{"duration": "Invalid date"}]))
    assert message.tracks[0].duration_s is None
    assert message.tracks[0].duration_text == "Invalid date"
    (finding,) = message.findings
    assert (finding.code, finding.severity) == ("invalid_duration", "warning")
    assert finding.location.endswith("SoundRecording[1]/Duration (line 1)")
    assert ddex.to_inspect_json(message, message.findings)["tracks"][0]["duration_s"] is None
    assert finding in ddex.validate(message)


def test_test_message_is_flagged(ern432) -> None:
    data = ern432(control_type="TestMessage")
    assert ddex.read_message(data).is_test_message
    assert _codes(data)["test_message"][0].severity == "warning"


def test_dangling_party_reference(ern432) -> None:
    (finding,) = _codes(ern432([{"artist_ref": "PNobody"}]))["dangling_party_reference"]
    assert finding.severity == "error" and "PNobody" in finding.message


def test_display_artist_mismatch(ern432) -> None:
    data = ern432([{"artist": "Label Co", "artist_ref": "PLabel"}])
    (finding,) = _codes(data)["display_artist_mismatch"]
    assert "Label Co" in finding.message and "The Artist" in finding.message


@pytest.mark.parametrize(
    ("isrc", "code", "severity"),
    [
        (None, "missing_isrc", "error"),
        ("QZ-ABC-25-00001", "isrc_not_normalised", "info"),
        ("XXABC2500001", "isrc_unknown_country", "warning"),
        ("NOT-AN-ISRC", "isrc_invalid_format", "error"),
    ],
)
def test_isrc_rules(ern432, isrc: str | None, code: str, severity: str) -> None:
    assert [f.severity for f in _codes(ern432([{"isrc": isrc}]))[code]] == [severity]


def test_duplicate_isrc_across_recordings(ern432) -> None:
    data = ern432([{"ref": "A1", "isrc": "QZABC2500001"}, {"ref": "A2", "isrc": "QZ-ABC-25-00001"}])
    assert len(_codes(data)["duplicate_isrc"]) == 2


def test_release_identifier_check_digits_are_soft(ern432) -> None:
    (finding,) = _codes(ern432(icpn="123123123123"))["icpn_bad_check_digit"]
    assert finding.severity == "warning" and "should be 5" in finding.message


def test_malformed_hash_value(ern432) -> None:
    (finding,) = _codes(ern432([{"md5": "abc123"}]))["hash_value_malformed"]
    assert finding.severity == "warning"


def test_missing_file_reference_is_noted(ern432) -> None:
    assert _codes(ern432([{"file": None}]))["missing_file_reference"][0].severity == "info"


def test_no_deal_list_means_missing_deal(ern432) -> None:
    message = ddex.read_message(ern432(deal=None))
    assert "missing_deal" in {f.code for f in ddex.validate(message)}
    (row,) = message.availability(as_of=TODAY)
    assert (row.release_reference, row.available, row.reason) == ("R0", False, "no_deal")


def test_ern4_past_end_date_is_a_takedown(ern432) -> None:
    message = ddex.read_message(
        ern432(deal="<StartDate>2020-01-01</StartDate><EndDate>2024-12-31</EndDate>")
    )
    (deal,) = message.deals
    assert (deal.territories, deal.use_types, deal.end) == (
        ("Worldwide",),
        ("OnDemandStream",),
        "2024-12-31",
    )
    (row,) = message.availability(as_of=TODAY)
    assert (row.available, row.reason) == (False, "expired")
    (still,) = message.availability(as_of=date(2024, 12, 31))
    assert (still.available, still.reason) == (True, "deal")


def test_ern3_takedown_flag() -> None:
    message = ddex.read_message(ERN382_TAKEDOWN)
    assert message.update_indicator == "UpdateMessage"
    rows = {(r.territory, r.use_type): r for r in message.availability(as_of=TODAY)}
    assert (rows[("DE", None)].available, rows[("DE", None)].reason) == (False, "takedown")
    assert rows[("FR", "OnDemandStream")].available
    assert "takedown" in {f.code for f in ddex.validate(message)}


def test_findings_are_sorted_errors_first(ern432) -> None:
    findings = ddex.inspect(ern432([{"isrc": None, "md5": "abc"}], control_type="TestMessage"))[1]
    order = {"error": 0, "warning": 1, "info": 2}
    ranks = [order[f.severity] for f in findings]
    assert ranks == sorted(ranks) and ranks[0] == 0
