"""Build the example deliveries under examples/deliveries/ (deterministic; run to regenerate).

    python examples/make_example_deliveries.py

Two deliveries, each an ERN message written here plus audio generated here (nothing is copied
from elsewhere, so everything is redistributable):

- night-ferry-album (ERN 4.3.2): a four-track album by "The Lanterns". Track 3, "Night Ferry",
  is track 1 ("Harbour Lights") sped up by 4 % and re-encoded under a new title and ISRC — the
  commonest re-upload trick. Track 4, "Paper Moons", declares ContainsAI=All with a
  GenerativeAI special contributor, so the release declares ContainsAI=Partly.
- rain-sounds-single (ERN 4.3): a 31-second noise bed with a keyword-stuffed title from a
  different sender — royalty-farming spam.

The songs are synthesised (additive voices, bass, drums) with fixed seeds. Encoders may not be
byte-identical across FFmpeg versions, so the committed files, not this script, are the
reference; the script recomputes the MD5 sums it writes into the messages.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soxr

SAMPLE_RATE_HZ = 44_100
SONG_DURATION_S = 36.0
SPAM_DURATION_S = 31.0
SPEED_UP_FACTOR = 1.04
"""The re-upload plays 4 % faster (pitch and tempo together), like 'sped up' spam edits."""
PEAK_HEADROOM = 0.89
A4_HZ = 440.0
SEMITONES_PER_OCTAVE = 12
OUT_DIR = Path(__file__).resolve().parent / "deliveries"
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
POP_PROGRESSION = ((0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12))  # I V vi IV, semitones
FIFTIES_PROGRESSION = ((0, 4, 7), (9, 12, 16), (2, 5, 9), (7, 11, 14))  # I vi ii V


@dataclass(frozen=True)
class Song:
    seed: int
    root_midi: int
    bpm: float
    lead_harmonics: int
    pad_brightness: float
    progression: tuple[tuple[int, int, int], ...] = POP_PROGRESSION
    """Chords of the pad, one per bar (semitones above the root). Songs that differ only in key
    and tempo are the same bed to a pitch- and tempo-invariant fingerprint, as covers are."""


def midi_to_hz(note: float) -> float:
    return A4_HZ * 2.0 ** ((note - 69) / SEMITONES_PER_OCTAVE)


def _tone(freq: float, n: int, harmonics: int, rolloff: float) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE_HZ
    out = np.zeros(n)
    for k in range(1, harmonics + 1):
        out += np.sin(2 * np.pi * freq * k * t) * rolloff ** (k - 1) / k
    return out


def _envelope(n: int, attack_s: float, release_s: float) -> np.ndarray:
    env = np.ones(n)
    a = min(n, int(attack_s * SAMPLE_RATE_HZ))
    r = min(n - a, int(release_s * SAMPLE_RATE_HZ))
    env[:a] = np.linspace(0, 1, a)
    if r > 0:
        env[n - r :] = np.linspace(1, 0, r)
    return env


def synthesise_song(song: Song) -> np.ndarray:
    """A short instrumental: pad chords, bass, a seeded melody and a drum pattern."""
    rng = np.random.default_rng(song.seed)
    total = int(SONG_DURATION_S * SAMPLE_RATE_HZ)
    mix = np.zeros(total)
    beat = int(60.0 / song.bpm * SAMPLE_RATE_HZ)
    bar = 4 * beat
    for bar_index, start in enumerate(range(0, total, bar)):
        chord = song.progression[bar_index % len(song.progression)]
        n = min(bar, total - start)
        for interval in chord:
            pad = _tone(midi_to_hz(song.root_midi + interval), n, 6, song.pad_brightness)
            mix[start : start + n] += 0.12 * pad * _envelope(n, 0.3, 0.4)
        bass = _tone(midi_to_hz(song.root_midi - 12 + chord[0]), n, 2, 0.5)
        mix[start : start + n] += 0.25 * bass * _envelope(n, 0.01, 0.2)
    for start in range(0, total, beat // 2):
        n = min(beat // 2, total - start)
        degree = MAJOR_SCALE[int(rng.integers(len(MAJOR_SCALE)))]
        octave = SEMITONES_PER_OCTAVE * int(rng.integers(1, 3))
        note = _tone(midi_to_hz(song.root_midi + degree + octave), n, song.lead_harmonics, 0.7)
        mix[start : start + n] += 0.1 * note * _envelope(n, 0.005, 0.08)
    for index, start in enumerate(range(0, total, beat)):
        n = min(beat, total - start)
        t = np.arange(n) / SAMPLE_RATE_HZ
        if index % 2 == 0:  # kick: a falling sine
            sweep = np.sin(2 * np.pi * (50 + 90 * np.exp(-t * 30)) * t)
            mix[start : start + n] += 0.5 * sweep * np.exp(-t * 12)
        else:  # snare: a noise burst
            mix[start : start + n] += 0.2 * rng.standard_normal(n) * np.exp(-t * 25)
    return (mix / np.max(np.abs(mix)) * PEAK_HEADROOM).astype(np.float32)


def synthesise_noise_bed(seed: int) -> np.ndarray:
    """Pink-ish noise with slow swells: the 'rain sounds' beds that farm royalties."""
    rng = np.random.default_rng(seed)
    n = int(SPAM_DURATION_S * SAMPLE_RATE_HZ)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE_HZ)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, n)
    swell = 0.7 + 0.3 * np.sin(2 * np.pi * 0.1 * np.arange(n) / SAMPLE_RATE_HZ)
    noise *= swell
    return (noise / np.max(np.abs(noise)) * PEAK_HEADROOM).astype(np.float32)


def speed_up(samples: np.ndarray, factor: float) -> np.ndarray:
    """Play faster: resample to fewer samples, played back at the same rate."""
    return soxr.resample(samples, SAMPLE_RATE_HZ * factor, SAMPLE_RATE_HZ).astype(np.float32)


ENCODERS = {".flac": ("flac", None), ".mp3": ("libmp3lame", 128_000), ".m4a": ("aac", 128_000)}


def encode(samples: np.ndarray, path: Path) -> None:
    """Write mono audio with PyAV's bundled FFmpeg encoders (no system package needed)."""
    codec, bitrate = ENCODERS[path.suffix]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=SAMPLE_RATE_HZ, layout="mono")
        if bitrate:
            stream.bit_rate = bitrate
        frame_size = 1152
        pts = 0
        for start in range(0, len(samples), frame_size):
            chunk = samples[start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate = SAMPLE_RATE_HZ
            frame.pts = pts
            pts += len(chunk)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def iso_duration(seconds: float) -> str:
    whole = round(seconds)
    return f"PT{whole // 60}M{whole % 60}S"


HARBOUR_LIGHTS = Song(seed=11, root_midi=57, bpm=112, lead_harmonics=5, pad_brightness=0.6)
COLD_IRON = Song(seed=23, root_midi=50, bpm=96, lead_harmonics=9, pad_brightness=0.8)
PAPER_MOONS = Song(
    seed=37,
    root_midi=62,
    bpm=128,
    lead_harmonics=3,
    pad_brightness=0.4,
    progression=FIFTIES_PROGRESSION,
)


def build_album(out: Path) -> None:
    harbour = synthesise_song(HARBOUR_LIGHTS)
    audio = {
        "A1": ("resources/01_harbour_lights.flac", harbour),
        "A2": ("resources/02_cold_iron.mp3", synthesise_song(COLD_IRON)),
        "A3": ("resources/03_night_ferry.mp3", speed_up(harbour, SPEED_UP_FACTOR)),
        "A4": ("resources/04_paper_moons.m4a", synthesise_song(PAPER_MOONS)),
    }
    facts = {}
    for ref, (name, samples) in audio.items():
        encode(samples, out / name)
        facts[ref] = (name, md5_of(out / name), iso_duration(len(samples) / SAMPLE_RATE_HZ))
    message = ALBUM_TEMPLATE.format(
        **{f"{ref}_file": f[0] for ref, f in facts.items()},
        **{f"{ref}_md5": f[1] for ref, f in facts.items()},
        **{f"{ref}_duration": f[2] for ref, f in facts.items()},
    )
    (out / "NewReleaseMessage.xml").write_text(message, encoding="utf-8")


def build_spam_single(out: Path) -> None:
    name = "resources/rain_sleep.mp3"
    samples = synthesise_noise_bed(seed=5)
    encode(samples, out / name)
    message = SPAM_TEMPLATE.format(
        file=name,
        md5=md5_of(out / name),
        duration=iso_duration(len(samples) / SAMPLE_RATE_HZ),
    )
    (out / "NewReleaseMessage.xml").write_text(message, encoding="utf-8")


def _sound_recording(
    ref: str, isrc: str, title: str, artist_ref: str, contributor: str, ai_flags: str
) -> str:
    return f"""      <SoundRecording>
         <ResourceReference>{ref}</ResourceReference>
         <Type>MusicalWorkSoundRecording</Type>
         <SoundRecordingEdition>
            <ResourceId>
               <ISRC>{isrc}</ISRC>
            </ResourceId>
            <PLine>
               <Year>2026</Year>
               <PLineText>(P) 2026 Lantern Light Records</PLineText>
            </PLine>
            <TechnicalDetails>
               <TechnicalResourceDetailsReference>T{ref}</TechnicalResourceDetailsReference>
               <DeliveryFile>
                  <Type>AudioFile</Type>
                  <File>
                     <URI>{{{ref}_file}}</URI>
                     <HashSum>
                        <Algorithm>MD5</Algorithm>
                        <HashSumValue>{{{ref}_md5}}</HashSumValue>
                     </HashSum>
                  </File>
               </DeliveryFile>
            </TechnicalDetails>
         </SoundRecordingEdition>
         <DisplayTitleText>{title}</DisplayTitleText>
         <DisplayTitle IsDefault="true">
            <TitleText>{title}</TitleText>
         </DisplayTitle>
         <DisplayArtistName IsDefault="true">The Lanterns</DisplayArtistName>
         <DisplayArtist SequenceNumber="1">
            <ArtistPartyReference>{artist_ref}</ArtistPartyReference>
            <DisplayArtistRole>MainArtist</DisplayArtistRole>
         </DisplayArtist>
{contributor}         <Duration>{{{ref}_duration}}</Duration>
         <ParentalWarningType>NotExplicit</ParentalWarningType>
{ai_flags}      </SoundRecording>
"""


_HUMAN_CONTRIBUTOR = """         <Contributor SequenceNumber="1">
            <ContributorPartyReference>PMaraVale</ContributorPartyReference>
            <Role>
               <Value>Composer</Value>
            </Role>
            <AiContribution>None</AiContribution>
         </Contributor>
"""
_AI_CONTRIBUTOR = """         <Contributor SequenceNumber="1">
            <SpecialContributor>GenerativeAI</SpecialContributor>
            <AiContribution>All</AiContribution>
         </Contributor>
"""
_NO_AI = "         <ContainsAI>None</ContainsAI>\n         <HasVocalPerformance>false</HasVocalPerformance>\n"
_ALL_AI = "         <ContainsAI>All</ContainsAI>\n         <HasVocalPerformance>false</HasVocalPerformance>\n"

ALBUM_TEMPLATE = (
    """<?xml version="1.0" encoding="UTF-8"?>
<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/432"
   xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
   xsi:schemaLocation="http://ddex.net/xml/ern/432 http://ddex.net/xml/ern/432/release-notification.xsd"
   ReleaseProfileVersionId="Audio" LanguageAndScriptCode="en" AvsVersionId="7">
   <MessageHeader>
      <MessageThreadId>LANTERN-2026-0001</MessageThreadId>
      <MessageId>LANTERN-2026-0001-1</MessageId>
      <MessageSender>
         <PartyId>PADPIDA2026112401E</PartyId>
         <PartyName>
            <FullName>Lantern Light Distribution</FullName>
         </PartyName>
      </MessageSender>
      <MessageRecipient>
         <PartyId>PADPIDA2026112402C</PartyId>
         <PartyName>
            <FullName>Example Streaming Service</FullName>
         </PartyName>
      </MessageRecipient>
      <MessageCreatedDateTime>2026-11-24T09:00:00Z</MessageCreatedDateTime>
      <MessageControlType>LiveMessage</MessageControlType>
   </MessageHeader>
   <PartyList>
      <Party>
         <PartyReference>PLanterns</PartyReference>
         <PartyName>
            <FullName>The Lanterns</FullName>
         </PartyName>
      </Party>
      <Party>
         <PartyReference>PMaraVale</PartyReference>
         <PartyName>
            <FullName>Mara Vale</FullName>
         </PartyName>
      </Party>
      <Party>
         <PartyReference>PLabel</PartyReference>
         <PartyName>
            <FullName>Lantern Light Records</FullName>
         </PartyName>
      </Party>
   </PartyList>
   <ResourceList>
"""
    + _sound_recording(
        "A1", "GBLNT2600001", "Harbour Lights", "PLanterns", _HUMAN_CONTRIBUTOR, _NO_AI
    )
    + _sound_recording("A2", "GBLNT2600002", "Cold Iron", "PLanterns", _HUMAN_CONTRIBUTOR, _NO_AI)
    + _sound_recording("A3", "GBLNT2600003", "Night Ferry", "PLanterns", _HUMAN_CONTRIBUTOR, _NO_AI)
    + _sound_recording("A4", "GBLNT2600004", "Paper Moons", "PLanterns", _AI_CONTRIBUTOR, _ALL_AI)
    + """   </ResourceList>
   <ReleaseList>
      <Release>
         <ReleaseReference>R0</ReleaseReference>
         <ReleaseType>Album</ReleaseType>
         <ReleaseId>
            <ICPN>5099902894720</ICPN>
         </ReleaseId>
         <DisplayTitleText>Lights on the Water</DisplayTitleText>
         <DisplayTitle IsDefault="true">
            <TitleText>Lights on the Water</TitleText>
         </DisplayTitle>
         <DisplayArtistName IsDefault="true">The Lanterns</DisplayArtistName>
         <DisplayArtist SequenceNumber="1">
            <ArtistPartyReference>PLanterns</ArtistPartyReference>
            <DisplayArtistRole>MainArtist</DisplayArtistRole>
         </DisplayArtist>
         <ReleaseLabelReference>PLabel</ReleaseLabelReference>
         <DisplayGenre>
            <GenreText>Pop</GenreText>
         </DisplayGenre>
         <ParentalWarningType>NotExplicit</ParentalWarningType>
         <ResourceGroup>
            <ResourceGroupContentItem>
               <SequenceNumber>1</SequenceNumber>
               <ReleaseResourceReference>A1</ReleaseResourceReference>
            </ResourceGroupContentItem>
            <ResourceGroupContentItem>
               <SequenceNumber>2</SequenceNumber>
               <ReleaseResourceReference>A2</ReleaseResourceReference>
            </ResourceGroupContentItem>
            <ResourceGroupContentItem>
               <SequenceNumber>3</SequenceNumber>
               <ReleaseResourceReference>A3</ReleaseResourceReference>
            </ResourceGroupContentItem>
            <ResourceGroupContentItem>
               <SequenceNumber>4</SequenceNumber>
               <ReleaseResourceReference>A4</ReleaseResourceReference>
            </ResourceGroupContentItem>
         </ResourceGroup>
         <ContainsAI>Partly</ContainsAI>
      </Release>
   </ReleaseList>
   <DealList>
      <ReleaseDeal>
         <DealReleaseReference>R0</DealReleaseReference>
         <Deal>
            <DealTerms>
               <TerritoryCode>Worldwide</TerritoryCode>
               <ValidityPeriod>
                  <StartDate>2026-11-24</StartDate>
               </ValidityPeriod>
               <CommercialModelType>SubscriptionModel</CommercialModelType>
               <UseType>Stream</UseType>
            </DealTerms>
         </Deal>
      </ReleaseDeal>
   </DealList>
</ern:NewReleaseMessage>
"""
)

SPAM_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43"
   xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
   ReleaseProfileVersionId="Audio" LanguageAndScriptCode="en" AvsVersionId="3">
   <MessageHeader>
      <MessageThreadId>SLEEPY-88121</MessageThreadId>
      <MessageId>SLEEPY-88121-1</MessageId>
      <MessageSender>
         <PartyId>PADPIDA2026112403A</PartyId>
         <PartyName>
            <FullName>Sleepy Sounds Bulk Upload</FullName>
         </PartyName>
      </MessageSender>
      <MessageRecipient>
         <PartyId>PADPIDA2026112402C</PartyId>
         <PartyName>
            <FullName>Example Streaming Service</FullName>
         </PartyName>
      </MessageRecipient>
      <MessageCreatedDateTime>2026-11-24T09:05:00Z</MessageCreatedDateTime>
   </MessageHeader>
   <PartyList>
      <Party>
         <PartyReference>PRain</PartyReference>
         <PartyName>
            <FullName>Rain Sounds Sleep Music Relaxing White Noise</FullName>
         </PartyName>
      </Party>
      <Party>
         <PartyReference>PSleepyLabel</PartyReference>
         <PartyName>
            <FullName>Sleepy Sounds</FullName>
         </PartyName>
      </Party>
   </PartyList>
   <ResourceList>
      <SoundRecording>
         <ResourceReference>A1</ResourceReference>
         <Type>MusicalWorkSoundRecording</Type>
         <SoundRecordingEdition>
            <ResourceId>
               <ISRC>QZES82600001</ISRC>
            </ResourceId>
            <TechnicalDetails>
               <TechnicalResourceDetailsReference>T1</TechnicalResourceDetailsReference>
               <DeliveryFile>
                  <Type>AudioFile</Type>
                  <File>
                     <URI>{file}</URI>
                     <HashSum>
                        <Algorithm>MD5</Algorithm>
                        <HashSumValue>{md5}</HashSumValue>
                     </HashSum>
                  </File>
               </DeliveryFile>
            </TechnicalDetails>
         </SoundRecordingEdition>
         <DisplayTitleText>Rain Sounds for Sleep #sleep #rain #relax @spotify www.sleepysounds.example best 2026</DisplayTitleText>
         <DisplayTitle IsDefault="true">
            <TitleText>Rain Sounds for Sleep #sleep #rain #relax @spotify www.sleepysounds.example best 2026</TitleText>
         </DisplayTitle>
         <DisplayArtistName IsDefault="true">Rain Sounds Sleep Music Relaxing White Noise</DisplayArtistName>
         <DisplayArtist SequenceNumber="1">
            <ArtistPartyReference>PRain</ArtistPartyReference>
            <DisplayArtistRole>MainArtist</DisplayArtistRole>
         </DisplayArtist>
         <Duration>{duration}</Duration>
         <ParentalWarningType>NotExplicit</ParentalWarningType>
      </SoundRecording>
   </ResourceList>
   <ReleaseList>
      <Release>
         <ReleaseReference>R0</ReleaseReference>
         <ReleaseType>Single</ReleaseType>
         <ReleaseId>
            <ICPN>123123123123</ICPN>
         </ReleaseId>
         <DisplayTitleText>Rain Sounds for Sleep #sleep #rain #relax</DisplayTitleText>
         <DisplayTitle IsDefault="true">
            <TitleText>Rain Sounds for Sleep #sleep #rain #relax</TitleText>
         </DisplayTitle>
         <DisplayArtistName IsDefault="true">Rain Sounds Sleep Music Relaxing White Noise</DisplayArtistName>
         <DisplayArtist SequenceNumber="1">
            <ArtistPartyReference>PRain</ArtistPartyReference>
            <DisplayArtistRole>MainArtist</DisplayArtistRole>
         </DisplayArtist>
         <ReleaseLabelReference>PSleepyLabel</ReleaseLabelReference>
         <Genre>
            <GenreText>Ambient</GenreText>
         </Genre>
         <ParentalWarningType>NotExplicit</ParentalWarningType>
         <ResourceGroup>
            <ResourceGroupContentItem>
               <SequenceNumber>1</SequenceNumber>
               <ReleaseResourceReference>A1</ReleaseResourceReference>
            </ResourceGroupContentItem>
         </ResourceGroup>
      </Release>
   </ReleaseList>
   <DealList>
      <ReleaseDeal>
         <DealReleaseReference>R0</DealReleaseReference>
         <Deal>
            <DealTerms>
               <TerritoryCode>Worldwide</TerritoryCode>
               <ValidityPeriod>
                  <StartDate>2026-11-24</StartDate>
               </ValidityPeriod>
               <CommercialModelType>AdvertisementSupportedModel</CommercialModelType>
               <UseType>Stream</UseType>
            </DealTerms>
         </Deal>
      </ReleaseDeal>
   </DealList>
</ern:NewReleaseMessage>
"""


def main() -> None:
    build_album(OUT_DIR / "night-ferry-album")
    build_spam_single(OUT_DIR / "rain-sounds-single")
    for path in sorted(OUT_DIR.rglob("*")):
        if path.is_file():
            print(f"{path.stat().st_size:>9,d}  {path.relative_to(OUT_DIR.parent)}")


if __name__ == "__main__":
    main()
