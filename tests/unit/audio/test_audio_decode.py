"""Decoding every delivery format, in the sandbox, to the right rate and duration."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile

from integrity.audio import (
    AudioDecodeError,
    DecodedAudio,
    DecodeFailure,
    DecodeLimits,
    decode_file,
    measure,
    probe_file,
    sha256_file,
)
from integrity.audio._decoders import sniff_container
from integrity.catalog.pipeline import decode_limits
from integrity.config import Settings
from tests.conftest import SHARED_AUDIO_DIR

from .signals import ALL_FORMATS, FIXTURE_RATE_HZ, FIXTURE_SECONDS, encode_pyav, tone

# Lossy encoders add priming/padding the decoder may not trim exactly (s).
DURATION_TOLERANCE_S = {
    "wav": 0.001,
    "flac": 0.001,
    "ogg": 0.01,
    "mp3": 0.06,
    "m4a": 0.06,
    "opus": 0.03,
}
EXPECTED_CODEC = {
    "wav": ("wav", "pcm_s16le"),
    "flac": ("flac", "flac"),
    "ogg": ("ogg", "vorbis"),
    "mp3": ("mp3", "mp3"),
    "m4a": ("mp4", "aac"),
    "opus": ("ogg", "opus"),
}
TARGET_RATE_HZ = 22_050


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_each_format_decodes_to_mono_float32_at_the_requested_rate(
    name: str, encoded: dict[str, Path], limits: DecodeLimits
) -> None:
    audio = decode_file(encoded[name], sample_rate=TARGET_RATE_HZ, limits=limits)

    assert audio.sample_rate == TARGET_RATE_HZ
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1
    assert audio.samples.flags.c_contiguous
    assert audio.duration_s == pytest.approx(FIXTURE_SECONDS, abs=DURATION_TOLERANCE_S[name])
    assert (audio.container, audio.codec) == EXPECTED_CODEC[name]
    assert audio.source_channels == 2
    # The 0.5-amplitude tone survives every codec at about its level (mean downmix, not a sum).
    assert 0.45 < float(np.abs(audio.samples).max()) < 0.6


@pytest.mark.parametrize("name", ["wav", "flac", "mp3", "opus"])
def test_native_rate_is_kept(name: str, encoded: dict[str, Path], limits: DecodeLimits) -> None:
    audio = decode_file(encoded[name], limits=limits)
    native = 48_000 if name == "opus" else FIXTURE_RATE_HZ
    assert audio.sample_rate == audio.source_sample_rate == native


def test_native_rate_is_capped_at_48k(tmp_path: Path, limits: DecodeLimits) -> None:
    path = tmp_path / "hires.wav"
    soundfile.write(path, tone(1.0, 96_000), 96_000, subtype="PCM_24")
    audio = decode_file(path, limits=limits)
    assert audio.source_sample_rate == 96_000
    assert audio.sample_rate == 48_000
    assert audio.duration_s == pytest.approx(1.0, abs=1e-3)


def test_sandboxed_and_in_process_decodes_agree(
    encoded: dict[str, Path], limits: DecodeLimits
) -> None:
    sandboxed = decode_file(encoded["mp3"], sample_rate=TARGET_RATE_HZ, limits=limits)
    local = decode_file(encoded["mp3"], sample_rate=TARGET_RATE_HZ, limits=limits, sandbox=False)
    np.testing.assert_array_equal(sandboxed.samples, local.samples)


def test_resampled_converts_and_caches(encoded: dict[str, Path], limits: DecodeLimits) -> None:
    audio = decode_file(encoded["flac"], limits=limits)
    low = audio.resampled(11_025)
    assert low.dtype == np.float32
    assert low.shape[0] == pytest.approx(FIXTURE_SECONDS * 11_025, abs=2)
    assert audio.resampled(11_025) is low
    assert audio.resampled(audio.sample_rate) is audio.samples
    with pytest.raises(ValueError, match="read-only"):
        low[0] = 1.0


def test_decoded_audio_leaves_the_callers_array_writable() -> None:
    mine = np.zeros(16_000, dtype=np.float32)
    audio = DecodedAudio(
        samples=mine,
        sample_rate=16_000,
        source_sample_rate=16_000,
        source_channels=1,
        codec="pcm_f32le",
        container="wav",
    )
    mine[0] = 1.0  # still allowed: only the shared view is read-only
    assert not audio.samples.flags.writeable
    assert audio.duration_s == 1.0


def test_decoded_audio_refuses_multichannel_arrays() -> None:
    with pytest.raises(ValueError, match="mono"):
        DecodedAudio(
            samples=np.zeros((10, 2), dtype=np.float32),
            sample_rate=8_000,
            source_sample_rate=8_000,
            source_channels=2,
            codec="pcm_s16le",
            container="wav",
        )


def test_probe_reads_headers(encoded: dict[str, Path], limits: DecodeLimits) -> None:
    found = probe_file(encoded["m4a"], limits=limits)
    assert (found.container, found.codec, found.channels, found.sample_rate) == (
        "mp4",
        "aac",
        2,
        FIXTURE_RATE_HZ,
    )
    assert found.duration_s == pytest.approx(FIXTURE_SECONDS, abs=0.06)
    assert found.size_bytes == encoded["m4a"].stat().st_size


def test_sha256_file_matches_hashlib(encoded: dict[str, Path]) -> None:
    path = encoded["wav"]
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


SHARED_RECORDINGS = sorted(SHARED_AUDIO_DIR.glob("*.ogg"))
# Integrated loudness of the shared recordings (all mono, 22.05 kHz) as printed by FFmpeg's
# independent EBU R128 meter: `ffmpeg -i FILE -af ebur128 -f null -` (LUFS, 0.1 LU steps).
FFMPEG_EBUR128_LUFS = {
    "147793__setuniman__sweet-waltz-0i-22mi": -25.1,
    "198-209-0000": -27.8,
    "3436-172162-0000": -21.8,
    "442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime": -20.2,
    "456440__inspectorj__bird-whistling-robin-single-13": -18.6,
    "5703-47212-0000": -19.7,
    "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra)": -22.1,
    "Karissa_Hobbs_-_Lets_Go_Fishin": -17.7,
    "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy": -23.3,
    "Kevin_MacLeod_-_Vibe_Ace": -21.3,
    "admiralbob77_-_Choice_-_Drum-bass": -28.5,
    "glacier-bay-humpback": -28.2,
    "pibble": -38.2,
    "sorohanro_-_solo-trumpet-06": -18.9,
}
# FFmpeg rounds to 0.1 LU; our meter agreed within 0.04 LU on every file when this was written.
LOUDNESS_AGREEMENT_LU = 0.06


@pytest.mark.parametrize("path", SHARED_RECORDINGS, ids=lambda p: p.stem[:24])
def test_real_recordings_decode_and_match_an_independent_loudness_meter(
    path: Path, limits: DecodeLimits
) -> None:
    info = soundfile.info(str(path))
    audio = decode_file(path, limits=limits)
    assert audio.sample_rate == audio.source_sample_rate == info.samplerate
    assert audio.duration_s == pytest.approx(info.duration, abs=0.01)
    assert audio.source_channels == info.channels
    assert np.isfinite(audio.samples).all()
    assert float(np.abs(audio.samples).max()) > 0.01
    assert measure(audio).integrated_lufs == pytest.approx(
        FFMPEG_EBUR128_LUFS[path.stem], abs=LOUDNESS_AGREEMENT_LU
    )


def test_shared_recordings_are_present() -> None:
    assert len(SHARED_RECORDINGS) >= 10, f"expected the librosa recordings in {SHARED_AUDIO_DIR}"


def test_decoded_audio_survives_pickling(encoded: dict[str, Path], limits: DecodeLimits) -> None:
    audio = decode_file(encoded["opus"], sample_rate=TARGET_RATE_HZ, limits=limits)
    low = audio.resampled(8_000)
    copy = pickle.loads(pickle.dumps(audio))
    np.testing.assert_array_equal(copy.samples, audio.samples)
    assert not copy.samples.flags.writeable
    np.testing.assert_array_equal(copy.resampled(8_000), low)
    assert (copy.codec, copy.container, copy.sample_rate) == ("opus", "ogg", TARGET_RATE_HZ)


def test_decode_error_survives_pickling(tmp_path: Path) -> None:
    error = AudioDecodeError(tmp_path / "x.mp3", DecodeFailure.TIMEOUT, "no result within 1 s")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.reason, str(copy)) == (error.path, error.reason, str(error))


def test_limits_come_from_settings_and_must_be_positive(settings: Settings) -> None:
    limits = decode_limits(settings)
    assert limits.max_bytes == settings.audio_max_bytes
    assert limits.max_duration_s == settings.audio_max_duration_s
    assert limits.timeout_s == settings.decode_timeout_s
    assert limits.memory_limit_bytes == settings.decode_memory_limit_bytes
    with pytest.raises(ValueError, match="timeout_s"):
        replace(limits, timeout_s=0)


def test_absurd_output_rate_is_a_programming_error(
    encoded: dict[str, Path], limits: DecodeLimits
) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        decode_file(encoded["wav"], sample_rate=10, limits=limits)


def test_raw_adts_aac_decodes(tmp_path: Path, limits: DecodeLimits) -> None:
    path = encode_pyav(tone(2.0), FIXTURE_RATE_HZ, tmp_path / "raw.aac", "adts", "aac")
    audio = decode_file(path, sample_rate=TARGET_RATE_HZ, limits=limits)
    assert (audio.container, audio.codec) == ("aac", "aac")
    assert audio.duration_s == pytest.approx(2.0, abs=0.06)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00fLaC", "flac"),  # 4-byte tag first
        (b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00", "mp3"),
        (b"\xff\xf1\x50\x80\x00\x1f\xfc", "aac"),  # ADTS: layer bits 00
        (b"\x00\x00\x00\x20ftypM4A ", "mp4"),
        (b"OggS\x00\x02", "ogg"),
        (b"\x1a\x45\xdf\xa3\x01", "matroska"),
    ],
)
def test_containers_are_recognised_by_magic_bytes(
    head: bytes, expected: str, tmp_path: Path
) -> None:
    path = tmp_path / "sample.bin"
    path.write_bytes(head + bytes(64))
    assert sniff_container(path) == expected


COVER_ART_BYTES = 200 * 1024
"""An APIC frame well past the sniffer's first read (bytes): real cover art is this big."""


def _syncsafe(value: int) -> bytes:
    """ID3v2 tag size: 28 bits in four 7-bit bytes."""
    return bytes((value >> shift) & 0x7F for shift in (21, 14, 7, 0))


def _id3v23_with_cover(art: bytes) -> bytes:
    """An ID3v2.3 tag holding one APIC (attached picture) frame, as taggers write cover art."""
    body = b"\x00" + b"image/jpeg\x00" + b"\x03" + b"Cover\x00" + art  # latin-1, front cover
    frame = b"APIC" + len(body).to_bytes(4, "big") + b"\x00\x00" + body
    return b"ID3\x03\x00\x00" + _syncsafe(len(frame)) + frame


def test_mp3_with_large_cover_art_is_accepted(
    tmp_path: Path, encoded: dict[str, Path], limits: DecodeLimits
) -> None:
    # The audio's frame sync lies 200 KiB in, far past the first SNIFF_BYTES read.
    art = np.random.default_rng(3).bytes(COVER_ART_BYTES)
    path = tmp_path / "with_cover.mp3"
    path.write_bytes(_id3v23_with_cover(art) + encoded["mp3"].read_bytes())
    assert sniff_container(path) == "mp3"
    audio = decode_file(path, limits=limits)
    assert (audio.container, audio.codec) == ("mp3", "mp3")
    assert audio.duration_s == pytest.approx(FIXTURE_SECONDS, abs=0.1)


def test_stacked_id3_tags_are_skipped(tmp_path: Path) -> None:
    art = np.random.default_rng(4).bytes(COVER_ART_BYTES)
    path = tmp_path / "retagged.flac"
    path.write_bytes(_id3v23_with_cover(art) + _id3v23_with_cover(b"") + b"fLaC" + bytes(64))
    assert sniff_container(path) == "flac"


def test_unknown_magic_bytes_are_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "playlist.m3u"
    path.write_text("#EXTM3U\nhttp://example.invalid/stream.mp3\n")
    with pytest.raises(AudioDecodeError) as caught:
        sniff_container(path)
    assert caught.value.reason is DecodeFailure.UNSUPPORTED


@pytest.mark.parametrize("name", ["wav", "mp3", "opus"])
def test_streaming_resample_equals_resampling_the_whole_signal(
    name: str, encoded: dict[str, Path], limits: DecodeLimits
) -> None:
    # Decoding at 22.05 kHz resamples block by block as frames arrive; decoding natively and
    # resampling afterwards does it in one go. soxr's streaming mode makes them identical.
    native = decode_file(encoded[name], limits=limits, sandbox=False)
    direct = decode_file(encoded[name], sample_rate=TARGET_RATE_HZ, limits=limits, sandbox=False)
    np.testing.assert_allclose(direct.samples, native.resampled(TARGET_RATE_HZ), atol=1e-6)


def test_ogg_vorbis_refused_by_ffmpeg_but_read_by_libsndfile_still_decodes(
    encoded: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # FFmpeg 5.1.9 / PyAV 18 refuse the Vorbis headers of some Debian game-music files that
    # libvorbis plays; simulate that refusal in-process and check libsndfile takes over.
    from integrity.audio import _decoders

    def refuse(path: Path, container: str) -> None:
        raise AudioDecodeError(path, DecodeFailure.CORRUPT, f"{container}: Invalid data found")

    monkeypatch.setattr(_decoders, "_open", refuse)
    audio = decode_file(encoded["ogg"], sample_rate=TARGET_RATE_HZ, sandbox=False)
    assert (audio.container, audio.codec) == ("ogg", "vorbis")
    assert audio.duration_s == pytest.approx(FIXTURE_SECONDS, abs=DURATION_TOLERANCE_S["ogg"])
    # Other containers refused by FFmpeg stay refused, naming the file.
    with pytest.raises(AudioDecodeError) as refused:
        decode_file(encoded["flac"], sample_rate=TARGET_RATE_HZ, sandbox=False)
    assert refused.value.reason is DecodeFailure.CORRUPT
