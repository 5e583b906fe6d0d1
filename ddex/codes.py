"""Every finding code the library emits, with what it means: the stable vocabulary of reports.

Codes never change meaning; AI-disclosure codes start with ``ai_``. A test checks that every
code the library produces is listed here, so this table can be quoted in documentation.
"""

from __future__ import annotations

FINDING_CODES: dict[str, str] = {
    # reading
    "legacy_version": "ERN 3.4.1-3.7.1, read with the 3.8 mapping",
    "qualified_child_elements": "children inherit the ERN namespace (default xmlns)",
    "schema_version_mismatch": "MessageSchemaVersionId names another version than the namespace",
    "structure_version_mismatch": "the body has the other major version's shape",
    "invalid_duration": "Duration is not ISO 8601 (e.g. 'Invalid date')",
    "invalid_boolean": "a flag is neither true nor false",
    # header
    "test_message": "MessageControlType=TestMessage: never ingest into production state",
    "missing_message_id": "MessageId is empty",
    "missing_sender_dpid": "MessageSender has no PartyId",
    "dpid_invalid_format": "sender PartyId is not a DPID",
    "dpid_bad_check_digit": "sender DPID fails ISO 7064 Mod 37,36",
    # recordings
    "missing_isrc": "a SoundRecording has no ISRC (error when a release's primary resource)",
    "isrc_invalid_format": "ISRC is not CC-XXX-YY-NNNNN",
    "isrc_unknown_country": "ISRC country prefix is neither ISO 3166 nor ISRC-allocated",
    "isrc_not_normalised": "ISRC written hyphenated or lower-case",
    "duplicate_isrc": "one ISRC on several SoundRecordings of the message",
    "missing_title": "a SoundRecording has no title",
    "missing_display_artist": "a SoundRecording has no display artist",
    "missing_file_reference": "a SoundRecording names no audio file",
    "hash_value_malformed": "hash value has the wrong length or non-hex characters",
    "hash_algorithm_unknown": "hash algorithm cannot be checked",
    # releases and references
    "no_releases": "a NewReleaseMessage without a Release",
    "no_main_release": "no release is marked main",
    "no_sound_recordings": "no audio SoundRecording (info when video or MIDI is present)",
    "no_front_cover_image": "no release refers to a FrontCoverImage",
    "empty_release": "a release refers to no resource",
    "dangling_resource_reference": "a release refers to a resource the ResourceList lacks",
    "dangling_party_reference": "an ERN 4 party reference is not in the PartyList",
    "unused_resource": "a resource no release uses",
    "release_type_track_count_mismatch": "a single-resource release type with several primaries",
    "icpn_invalid_format": "ICPN is not an 8/12/13/14-digit GTIN",
    "icpn_bad_check_digit": "ICPN fails the GS1 mod-10 check (soft: samples do too)",
    "grid_invalid_format": "GRid is not A1 + 16 characters",
    "grid_bad_check_digit": "GRid fails ISO 7064 Mod 37,36 (soft: samples do too)",
    "display_artist_mismatch": "a track shares no display artist with its release",
    # deals
    "missing_deal": "a release (or the whole message) has no deal",
    "dangling_deal_reference": "a deal refers to a release the ReleaseList lacks",
    "takedown": "a deal takes releases down (ERN 3 TakeDown=true)",
    # AI disclosure (ERN 4.3.1+)
    "ai_invalid_value": "ContainsAI / AiContribution is not All, Partly or None",
    "ai_all_with_human_contributor": "ContainsAI=All but a contributor is not GenerativeAI",
    "ai_none_with_ai_contribution": "ContainsAI=None but a contributor has Partly/All",
    "ai_contribution_all_by_non_ai_contributor": "AiContribution=All on a human contributor",
    "ai_undeclared_contains_ai": "AI contributions without ContainsAI",
    "ai_all_without_generative_contributor": "ContainsAI=All names no GenerativeAI contributor",
    "ai_release_track_mismatch": "release ContainsAI contradicts a track's",
    "ai_partly_without_ai_track": "release says Partly, no track declares AI content",
    "ai_fields_unsupported_version": "AI fields in a version that predates them (before 4.3.1)",
    # schema
    "xsd_invalid": "the message breaks the XSD",
    "xsd_not_available": "no schema for this version in the given directory",
    "xsd_findings_truncated": "more schema errors than are reported",
}
