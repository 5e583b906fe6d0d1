"""Thresholds of the metadata signals, each with its unit and the reason for its value.

Kept apart from the signal code so trust & safety can read (and tune) every number in one place;
the finding codes stay stable when a threshold moves.
"""

from __future__ import annotations

# --- impersonation --------------------------------------------------------------------------

NEAR_MATCH_MIN_CHARS = 9
"""characters (folded, no spaces): shorter protected names need an exact or look-alike match,
because one edit turns a short name into another real one ("Adele" → "Adela", "Sean Paul" →
"Dean Paul")."""
NEAR_MATCH_CHARS_PER_EDIT = 7
"""characters per allowed edit: "Taylr Swift" (10 letters) may differ by one, "Christina
Aguilera" (17) by two."""
NEAR_MATCH_MAX_EDITS = 2
"""edits: the ceiling whatever the length, so long names do not absorb unrelated ones."""
CONTAINED_SINGLE_WORD_MIN_CHARS = 7
"""characters: a one-word protected name inside a longer artist name counts on its own only
from this length ("Coldplay Covers"); shorter ones need a joining word ("Adele x Lofi")."""
CONTAINED_COMPACT_MIN_CHARS = 10
"""characters: a multi-word protected name this long is also found glued into one token
("TaylorSwiftLofi"); shorter ones would match by accident inside ordinary words."""
TITLE_SINGLE_WORD_MIN_CHARS = 6
"""characters: one-word protected names shorter than this are not looked for in titles,
where short names collide with ordinary words."""
JOINING_WORDS = frozenset(
    {
        "x",
        "feat",
        "ft",
        "featuring",
        "vs",
        "versus",
        "with",
        "and",
        "presents",
        "tribute",
        "type",
        "beat",
        "beats",
        "cover",
        "covers",
        "karaoke",
        "lofi",
        "instrumental",
        "instrumentals",
        "remix",
        "remixes",
        "style",
        "sings",
        "plays",
        "lullaby",
        "lullabies",
        "piano",
        "version",
    }
)
"""words (folded) that attach a borrowed famous name to a suffix or to a second artist."""
FEATURE_MARKERS = frozenset({"feat", "ft", "featuring", "with", "x", "vs"})
"""words (folded) that introduce a featured artist inside a title or a display-artist string."""

# --- stuffed titles -------------------------------------------------------------------------

TITLE_MAX_CHARS = 150
"""characters: long classical titles (work, key, catalogue number, movement) stay below it."""
TITLE_MAX_WORDS = 25
"""words: keyword lists run past it; the longest movement titles in the DDEX samples reach 20."""
TITLE_EMOJI_RUN = 3
"""consecutive emoji: one emoji is styling, a run of three is decoration for search."""
TITLE_EMOJI_TOTAL = 4
"""emoji in one title: scattered emoji used as keywords."""
KEYWORD_MIN_CHARS = 4
"""characters: shorter words (the, of, you, no) repeat naturally and are not counted."""
KEYWORD_REPEAT_ONE = 3
"""occurrences: one keyword three times outside a plain repeated phrase is stuffing."""
KEYWORD_REPEAT_DISTINCT = 2
"""keywords each seen at least twice: "Rain Sounds for Sleep #sleep #rain"."""
ALL_CAPS_MIN_LETTERS = 12
"""letters: short upper-case names and acronyms (RIOPY, EMI, BTS) are not shouting."""
ALL_CAPS_MIN_WORDS = 3
"""words of two or more letters, all upper case."""
URL_TLDS = frozenset(
    {
        "com",
        "net",
        "org",
        "io",
        "co",
        "fm",
        "me",
        "ly",
        "gg",
        "tv",
        "app",
        "xyz",
        "info",
        "biz",
        "music",
        "link",
        "live",
        "online",
        "site",
        "store",
        "shop",
        "example",
        "uk",
        "de",
        "fr",
        "ru",
        "br",
    }
)
"""top-level domains recognised in bare domains ("sleepysounds.com") without www or scheme."""

# --- functional audio and keyword-stuffed artist names ---------------------------------------

FUNCTIONAL_KEYWORDS = frozenset(
    {
        "rain",
        "rainfall",
        "thunder",
        "thunderstorm",
        "storm",
        "ocean",
        "waves",
        "sea",
        "forest",
        "birds",
        "nature",
        "fan",
        "vacuum",
        "noise",
        "white noise",
        "brown noise",
        "pink noise",
        "green noise",
        "sleep",
        "sleeping",
        "deep sleep",
        "relax",
        "relaxing",
        "relaxation",
        "calm",
        "calming",
        "soothing",
        "meditation",
        "meditate",
        "mindfulness",
        "yoga",
        "spa",
        "zen",
        "asmr",
        "binaural",
        "solfeggio",
        "hz",
        "frequency",
        "healing",
        "study",
        "focus",
        "concentration",
        "insomnia",
        "baby",
        "lullaby",
        "sounds",
        "ambience",
        "ambient",
    }
)
"""words and phrases (folded) of background-audio spam: rain, noise, sleep, focus beds."""
FUNCTIONAL_MIN_HITS = 2
"""distinct keywords in title + artist: one ("Rain", "Calm") is an ordinary song title."""
FUNCTIONAL_MIN_DURATION_S = 120.0
"""seconds: functional noise must run at least 2 min to earn on one large platform."""
ARTIST_KEYWORD_MIN_HITS = 3
"""distinct functional keywords in one artist name: names built for search, not for people."""

# --- generated (word-salad / random-character) names ------------------------------------------

SALAD_MIN_TOKEN_CHARS = 4
"""letters: shorter tokens (initials, "Mr", "DJ", "Cwm") carry too little to judge."""
SALAD_MAX_CONSONANT_RUN = 5
"""consonants in a row (y counts as a vowel, common digraphs folded): "szcz", "ngstschw" fold
below it; keyboard mashes like "xkcdqzt" do not."""
SALAD_MIN_VOWEL_SHARE = 0.2
"""vowels per letter, for tokens of 7+ letters: real words in Latin script stay above it."""
SALAD_VOWEL_SHARE_MIN_CHARS = 7
"""letters: below this the vowel share is too noisy to use."""
SALAD_CASE_SWITCHES = 4
"""upper/lower switches inside one token that are not CamelCase: "xKqPzT"."""
SALAD_DIGIT_ALTERNATIONS = 3
"""letter/digit alternations inside one token: "x7kq9z2" (but not "2U", "Blink182")."""
SALAD_REPEATED_CHAR = 4
"""the same letter this many times in a row: "aaaa"."""
SALAD_RARE_BIGRAM_HITS = 2
"""bigrams that (nearly) never occur in Latin-script words, per token."""
_RARE_BIGRAMS_TEXT = """
    qj qx qz qk qg qp qf qv qw qy qh qb qc qd qm qn qs qt jq jx jz xj xq xz zx zq vq vx vj
    wq wx wj fq fx fz kq kx kz gq gx pq px bq bx cx cj dx hx mx mq lx sx tx yq yj
"""
SALAD_RARE_BIGRAMS = frozenset(_RARE_BIGRAMS_TEXT.split())
"""letter pairs absent from words of English, Romance, Germanic and romanised Slavic and
Japanese names (each seen at most by accident): two in one token mean random characters."""
SALAD_JUNK_LETTER_SHARE = 0.5
"""share of a name's letters inside junk tokens above which the name is called generated."""

# --- duration gaming -------------------------------------------------------------------------

ROYALTY_THRESHOLD_S = 30.0
"""seconds: a stream counts for royalties once it passes 30 s."""
NEAR_THRESHOLD_MAX_S = 35.0
"""seconds: tracks cut just over the threshold (30-35 s) farm royalties per play."""
RELEASE_NEAR_THRESHOLD_SHARE = 0.5
"""share of a release's tracks at 30-35 s above which the release itself is gaming."""
RELEASE_NEAR_THRESHOLD_MIN_TRACKS = 3
"""tracks: a two-track single with one short intro is not a pattern."""
RINGTONE_MARKERS = ("ringtone", "ringback")
"""release or resource types (folded) where 30-s cuts are the product, not gaming."""

# --- identifiers -----------------------------------------------------------------------------

PLACEHOLDER_MAX_PERIOD = 4
"""digits: an identifier that repeats a pattern this short (123123123123, 1212...) is made up."""
PLACEHOLDER_MIN_SEQUENCE = 9
"""digits in an ascending or descending run (123456789...) that mark a made-up number."""
ISRC_PLACEHOLDER_DESIGNATION = "00000"
"""ISRC designation code: registrants number from 00001, so 00000 is a filler value."""

# --- AI disclosure ---------------------------------------------------------------------------

AI_UNDECLARED_SYNTHETIC_THRESHOLD = 0.9
"""calibrated probability: the synthetic model's score above which an undeclared track is
reported; the model card gives the false-positive rate at each threshold."""

# --- sender velocity -------------------------------------------------------------------------

SENDER_TRACKS_24H_INFO = 500
"""new tracks per 24 h from one sender: worth noting, typical of an active label."""
SENDER_TRACKS_24H_WARNING = 2000
"""new tracks per 24 h from one sender: bulk-upload territory unless the sender is a known
distributor (then raise it in the policy, not here)."""
SENDER_SPIKE_MIN_TRACKS_24H = 100
"""new tracks per 24 h: below this a jump over the sender's history is not worth a review."""
SENDER_SPIKE_RATIO = 10.0
"""times the sender's daily mean over the previous 29 days: a sudden flood."""
SENDER_HISTORY_DAYS = 30
"""days of sender history the catalog context counts."""
TEMPLATE_MIN_TRACKS = 5
"""tracks of one delivery sharing a title template ("Rain 1", "Rain 2"...)."""
TEMPLATE_MIN_SHARE = 0.5
"""share of the delivery's tracks on one template: an album with two reprises is not bulk."""
