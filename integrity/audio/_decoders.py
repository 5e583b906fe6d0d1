"""In-process decoding of one file: container sniffing, probing, PyAV and libsndfile backends.

This module parses untrusted bytes with C libraries, so production code runs it only inside the
sandbox child (`_sandbox`); `decode_file(..., sandbox=False)` calls it directly for trusted
input and benchmarks.

Why sniff the container ourselves: FFmpeg would otherwise try every demuxer it has (playlists,
image formats, network protocols) on hostile bytes. We recognise the handful of delivery
formats from their magic bytes and open FFmpeg with that one demuxer forced and only the
`file` protocol allowed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import av.error
import numpy as np
import soundfile
import soxr

from integrity.audio.constants import (
    DURATION_CAP_SLACK_S,
    ID3_FLAGS_OFFSET,
    ID3_FOOTER_BYTES,
    ID3_FOOTER_FLAG,
    ID3_HEADER_BYTES,
    ID3_MAX_TAGS,
    ID3_SIZE_OFFSET,
    ID3_SYNCSAFE_BITS,
    MPEG_LAYER_SHIFT,
    MPEG_SYNC_MASK,
    OGG_EOS_FLAG,
    OGG_HEADER_TYPE_OFFSET,
    RIFF_CHUNK_HEADER_BYTES,
    RIFF_FORM_TYPE_BYTES,
    RIFF_MAX_CHUNKS,
    RIFF_SIZE_UNKNOWN,
    SNIFF_BYTES,
    SOUNDFILE_BLOCK_FRAMES,
    SOXR_QUALITY,
    STREAM_BLOCK_FRAMES,
    TRUNCATION_MIN_FRACTION,
    TRUNCATION_MIN_GAP_S,
)
from integrity.audio.errors import AudioDecodeError, DecodeFailure
from integrity.audio.records import AudioProbe, Stream, output_rate

# Our container name -> the FFmpeg demuxer forced for it.
FFMPEG_DEMUXERS: dict[str, str] = {
    "wav": "wav",
    "flac": "flac",
    "ogg": "ogg",
    "mp3": "mp3",
    "mp4": "mp4",
    "aac": "aac",
    "matroska": "matroska",
    "aiff": "aiff",
}
# Decoders we let FFmpeg run (PCM variants are matched by prefix).
ALLOWED_CODECS: frozenset[str] = frozenset(
    {"flac", "mp3", "mp3float", "aac", "vorbis", "opus", "alac"}
)
# Codecs FFmpeg reports under a decoder-specific name, normalised for records.
CODEC_ALIASES: dict[str, str] = {"mp3float": "mp3", "libopus": "opus", "libvorbis": "vorbis"}
# (container, codec) pairs decoded with libsndfile: it measured faster than FFmpeg for these
# (benchmarks/decode_speed.py); everything else goes through PyAV. Not Ogg Vorbis: on stereo
# music FFmpeg's decoder ran 344-364x realtime to 8 kHz against libsndfile's 234-267x (same
# files and run, Xeon, 2026-12-02); libsndfile only wins on sub-second mono clips.
SOUNDFILE_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {
        ("wav", "pcm_s16le"),
        ("wav", "pcm_s24le"),
        ("wav", "pcm_s32le"),
        ("wav", "pcm_f32le"),
        ("wav", "pcm_u8"),
    }
)
# Pairs FFmpeg decodes first and libsndfile takes over when FFmpeg refuses them: FFmpeg 5.1 /
# PyAV 18 reject the Vorbis headers of some Debian game-music files that libvorbis plays.
SOUNDFILE_FALLBACK_PAIRS: frozenset[tuple[str, str]] = frozenset({("ogg", "vorbis")})


@dataclass(frozen=True, slots=True)
class Decoded:
    """Raw result of an in-process decode: mono float32 at `sample_rate`, plus its probe."""

    samples: np.ndarray
    sample_rate: int
    probe: AudioProbe
    backend: str


def _id3_tag_bytes(head: bytes) -> int:
    """Length of a leading ID3v2 tag (header, body, footer), 0 when `head` opens with none.

    MP3 (and some FLAC/AAC) files carry one; cover art makes it hundreds of KiB long.
    """
    if len(head) < ID3_HEADER_BYTES or head[:3] != b"ID3":
        return 0
    size = 0
    for byte in head[ID3_SIZE_OFFSET:ID3_HEADER_BYTES]:
        size = (size << ID3_SYNCSAFE_BITS) | (byte & ((1 << ID3_SYNCSAFE_BITS) - 1))
    footer = ID3_FOOTER_BYTES if head[ID3_FLAGS_OFFSET] & ID3_FOOTER_FLAG else 0
    return ID3_HEADER_BYTES + size + footer


def _read_past_id3(handle: BinaryIO) -> bytes:
    """The first SNIFF_BYTES after any leading ID3v2 tags (seeking, never reading the tags).

    Why seek: a tag holding cover art is routinely larger than SNIFF_BYTES, and the audio's
    own magic bytes only start after it. A 28-bit syncsafe size caps one tag at 256 MiB, and
    at most ID3_MAX_TAGS stacked tags are skipped, so a hostile header costs one seek each.
    """
    head = handle.read(SNIFF_BYTES)
    for _ in range(ID3_MAX_TAGS):
        skip = _id3_tag_bytes(head)
        if skip == 0:
            break
        handle.seek(skip - len(head), os.SEEK_CUR)
        head = handle.read(SNIFF_BYTES)
    return head


def sniff_container(path: Path) -> str:
    """Our container name for the file's magic bytes; UNSUPPORTED when none matches."""
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
            handle.seek(0)
            body = _read_past_id3(handle)
    except OSError as exc:
        raise AudioDecodeError(path, DecodeFailure.UNREADABLE, exc.strerror or str(exc)) from exc
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if body[:4] == b"fLaC":
        return "flac"
    if len(body) >= 2 and (int.from_bytes(body[:2], "big") & MPEG_SYNC_MASK) == MPEG_SYNC_MASK:
        layer = (body[1] >> MPEG_LAYER_SHIFT) & 0b11
        return "aac" if layer == 0 else "mp3"
    raise AudioDecodeError(path, DecodeFailure.UNSUPPORTED, "not a recognised audio container")


def _open(path: Path, container: str) -> av.container.InputContainer:
    """Open with the sniffed demuxer forced and no protocol but local files."""
    try:
        return av.open(
            f"file:{path}",
            format=FFMPEG_DEMUXERS[container],
            options={"protocol_whitelist": "file"},
        )
    except av.error.FileNotFoundError as exc:
        raise AudioDecodeError(path, DecodeFailure.UNREADABLE, "no such file") from exc
    except av.error.MemoryError as exc:
        raise MemoryError(str(exc)) from exc
    except (av.error.FFmpegError, ValueError) as exc:
        raise AudioDecodeError(path, DecodeFailure.CORRUPT, f"{container}: {exc}") from exc


def _codec_allowed(codec: str) -> bool:
    return codec.startswith("pcm_") or codec in ALLOWED_CODECS


def _probe_open(
    path: Path, handle: av.container.InputContainer, container: str
) -> tuple[AudioProbe, av.audio.stream.AudioStream]:
    if not handle.streams.audio:
        raise AudioDecodeError(path, DecodeFailure.UNSUPPORTED, f"{container}: no audio stream")
    stream = handle.streams.audio[0]
    codec_name = stream.codec_context.name
    if not _codec_allowed(codec_name):
        raise AudioDecodeError(path, DecodeFailure.UNSUPPORTED, f"codec {codec_name}")
    duration_s: float | None = None
    if handle.duration is not None and handle.duration > 0:
        duration_s = handle.duration / av.time_base
    elif stream.duration is not None and stream.time_base is not None:
        duration_s = float(stream.duration * stream.time_base)
    probe = AudioProbe(
        container=container,
        codec=CODEC_ALIASES.get(codec_name, codec_name),
        duration_s=duration_s,
        channels=int(stream.codec_context.channels),
        sample_rate=int(stream.codec_context.sample_rate or 0),
        size_bytes=path.stat().st_size,
    )
    return probe, stream


def probe(path: Path) -> AudioProbe:
    """Read the headers of one file (no audio decoded)."""
    container = sniff_container(path)
    try:
        with _open(path, container) as handle:
            found, _ = _probe_open(path, handle, container)
    except AudioDecodeError as exc:
        if container != "ogg" or exc.reason is not DecodeFailure.CORRUPT:
            raise
        # FFmpeg's Vorbis header parser refuses some files that libvorbis plays (seen with
        # FFmpeg 5.1.9 and PyAV 18 on Debian game music); libsndfile, which decodes Ogg Vorbis
        # here anyway, gets the final say before the file is called corrupt.
        fallback = _probe_vorbis_with_soundfile(path)
        if fallback is None:
            raise
        found = fallback
    return found


def _probe_vorbis_with_soundfile(path: Path) -> AudioProbe | None:
    """The probe of an Ogg Vorbis file as libsndfile reads it, or None when it cannot."""
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError):
        return None
    if info.format != "OGG" or info.subtype != "VORBIS" or info.samplerate <= 0:
        return None
    return AudioProbe(
        container="ogg",
        codec="vorbis",
        duration_s=float(info.duration) if info.frames > 0 else None,
        channels=int(info.channels),
        sample_rate=int(info.samplerate),
        size_bytes=path.stat().st_size,
    )


def _max_source_samples(rate: int, max_duration_s: float) -> int:
    return math.ceil((max_duration_s + DURATION_CAP_SLACK_S) * rate)


def _too_long(path: Path, max_duration_s: float) -> AudioDecodeError:
    return AudioDecodeError(
        path, DecodeFailure.TOO_LONG, f"decoded past the {max_duration_s:.1f} s limit"
    )


class _MonoBuffer:
    """A growable float32 array, sized from the header's duration so it rarely grows.

    Why: collecting per-frame arrays and concatenating them needs twice the output's memory
    and one allocation per frame; this needs neither.
    """

    def __init__(self, expected: int, limit: int) -> None:
        self.limit = limit
        self.data = np.empty(max(1, min(expected, limit)), dtype=np.float32)
        self.size = 0

    def claim(self, count: int) -> np.ndarray | None:
        """The next `count` slots to write into; None once `limit` would be passed."""
        end = self.size + count
        if end > self.limit:
            return None
        if end > self.data.shape[0]:
            grown = np.empty(min(self.limit, max(end, 2 * self.data.shape[0])), dtype=np.float32)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        view = self.data[self.size : end]
        self.size = end
        return view

    def result(self) -> np.ndarray:
        return self.data[: self.size]


class _ChunkBuffer:
    """Like _MonoBuffer, but hands each full block to `emit` (scaled to the channel mean)
    instead of keeping it: the decoded signal is never whole in memory."""

    def __init__(self, emit: Callable[[np.ndarray], None], channels: int) -> None:
        self.emit = emit
        self.scale = np.float32(1.0 / channels) if channels > 1 else None
        self.data = np.empty(STREAM_BLOCK_FRAMES, dtype=np.float32)
        self.size = 0

    def claim(self, count: int) -> np.ndarray:
        if self.size + count > self.data.shape[0]:
            self.flush()
            if count > self.data.shape[0]:
                self.data = np.empty(count, dtype=np.float32)
        view = self.data[self.size : self.size + count]
        self.size += count
        return view

    def flush(self) -> None:
        if self.size:
            block = self.data[: self.size]
            if self.scale is not None:
                block *= self.scale
            self.emit(block)
            self.size = 0


class _MonoSink:
    """Takes channel sums at the source rate, keeps them at the output rate.

    When the rates differ, source samples go through a small staging block into a streaming
    soxr resampler (bit-identical to resampling the whole signal at once), so the full-length
    source-rate signal never exists: a four-hour file decoded to 22.05 kHz needs only its
    22.05 kHz output in memory, not 44.1 kHz plus output.
    """

    def __init__(
        self,
        source_rate: int,
        target_rate: int,
        expected_s: float,
        max_duration_s: float,
        stream: Stream | None = None,
    ) -> None:
        self.source_rate = source_rate
        self.limit = _max_source_samples(source_rate, max_duration_s)
        self.taken = 0
        out_limit = _max_source_samples(target_rate, max_duration_s) + SOUNDFILE_BLOCK_FRAMES
        self.out: _MonoBuffer | _ChunkBuffer
        if stream is None:
            self.out = _MonoBuffer(math.ceil(expected_s * target_rate) + target_rate, out_limit)
        else:
            self.out = _ChunkBuffer(stream.emit, stream.channels)
        self.stream: soxr.ResampleStream | None = None
        self.stage = np.empty(0, dtype=np.float32)
        if source_rate != target_rate:
            self.stream = soxr.ResampleStream(
                source_rate, target_rate, 1, dtype="float32", quality=SOXR_QUALITY
            )
            self.stage = np.empty(SOUNDFILE_BLOCK_FRAMES, dtype=np.float32)
        self.staged = 0

    @property
    def taken_s(self) -> float:
        """Source audio received so far (s)."""
        return self.taken / self.source_rate

    def claim(self, count: int) -> np.ndarray | None:
        """Slots for the next `count` source samples; None once the duration cap is passed.

        The view is valid until the next call (it is consumed then or by `result`).
        """
        if self.taken + count > self.limit:
            return None
        self.taken += count
        if self.stream is None:
            return self.out.claim(count)
        if self.staged + count > self.stage.shape[0]:
            self._flush(last=False)
            if count > self.stage.shape[0]:
                self.stage = np.empty(count, dtype=np.float32)
        view = self.stage[self.staged : self.staged + count]
        self.staged += count
        return view

    def _flush(self, *, last: bool) -> None:
        assert self.stream is not None
        resampled = self.stream.resample_chunk(self.stage[: self.staged], last=last)
        self.staged = 0
        into = self.out.claim(resampled.shape[0])
        if into is None:  # cannot happen within the source cap; refuse rather than overrun
            raise MemoryError("resampled output outgrew its cap")
        into[:] = resampled

    def result(self, channels: int) -> np.ndarray:
        """The output-rate signal, scaled from channel sums to the channel mean (empty when
        it was streamed: then the last block is emitted here)."""
        if self.stream is not None:
            self._flush(last=True)
        if isinstance(self.out, _ChunkBuffer):
            self.out.flush()
            return np.zeros(0, dtype=np.float32)
        samples = self.out.result()
        if channels > 1:
            samples *= np.float32(1.0 / channels)
        return samples


def _sum_into(channels: list[np.ndarray], into: np.ndarray) -> None:
    """Sum of equally long channel arrays written into `into`, with no temporary arrays (the
    division by the channel count is done once over the whole result)."""
    if len(channels) == 1:
        into[:] = channels[0]
        return
    np.add(channels[0], channels[1], out=into)
    for channel in channels[2:]:
        into += channel


def _decode_pyav(
    path: Path,
    container: str,
    sample_rate: int | None,
    max_duration_s: float,
    stream_to: Callable[[AudioProbe], Stream] | None = None,
) -> tuple[AudioProbe, _MonoSink]:
    """Decode every frame and sum its channels into the sink at the source rate.

    The float decoders (mp3, aac, vorbis, opus) already deliver planar float, read in place
    from the frame's buffers; integer PCM (wav, flac) is converted to planar float by
    swresample first. This loop runs once per codec frame (every 20 ms for Opus), so it stays
    lean: its Python overhead is the difference between our decode and a bare FFmpeg one.

    Why not let swresample downmix and resample in one go: its stereo-to-mono matrix sums the
    channels at -3 dB each, (L+R)/sqrt(2), which changes levels; we want the plain mean, and
    soxr resamples better and faster (benchmarks/decode_speed.py).
    """
    with _open(path, container) as handle:
        found, stream = _probe_open(path, handle, container)
        rate, channels = found.sample_rate, found.channels
        sink = _MonoSink(
            rate,
            output_rate(found, sample_rate),
            found.duration_s or 0.0,
            max_duration_s,
            stream_to(found) if stream_to is not None else None,
        )
        converter: av.AudioResampler | None = None
        try:
            for frame in handle.decode(stream):
                if frame.sample_rate != rate:
                    raise AudioDecodeError(
                        path,
                        DecodeFailure.UNSUPPORTED,
                        f"sample rate changes mid-stream ({rate} -> {frame.sample_rate} Hz)",
                    )
                if frame.format.name == "fltp":
                    planar_frames: list[av.AudioFrame] = [frame]
                else:
                    if converter is None:
                        converter = av.AudioResampler(format="fltp", layout=frame.layout, rate=rate)
                    planar_frames = converter.resample(frame)
                for planar in planar_frames:
                    count = planar.samples
                    planes = planar.planes
                    if len(planes) != channels:
                        raise AudioDecodeError(
                            path,
                            DecodeFailure.UNSUPPORTED,
                            f"channel count changes mid-stream ({channels} -> {len(planes)})",
                        )
                    into = sink.claim(count)
                    if into is None:
                        raise _too_long(path, max_duration_s)
                    # Plane buffers are padded past `samples`: read exactly `count` floats.
                    views = [memoryview(p) for p in planes]
                    _sum_into(
                        [np.frombuffer(v, dtype=np.float32, count=count) for v in views], into
                    )
        except av.error.MemoryError as exc:
            raise MemoryError(str(exc)) from exc
        except (av.error.FFmpegError, ValueError) as exc:
            # ValueError: a frame whose format or layout changed mid-stream (chained Ogg).
            raise AudioDecodeError(path, DecodeFailure.CORRUPT, str(exc)) from exc
    return found, sink


def _decode_soundfile(
    path: Path,
    found: AudioProbe,
    sample_rate: int | None,
    max_duration_s: float,
    stream_to: Callable[[AudioProbe], Stream] | None = None,
) -> _MonoSink:
    """libsndfile in blocks into a reused buffer, channels summed straight into the sink."""
    rate = found.sample_rate
    try:
        with soundfile.SoundFile(str(path)) as handle:
            if handle.samplerate != rate or handle.channels != found.channels:
                raise AudioDecodeError(path, DecodeFailure.CORRUPT, "headers disagree")
            sink = _MonoSink(
                rate,
                output_rate(found, sample_rate),
                handle.frames / rate,
                max_duration_s,
                stream_to(found) if stream_to is not None else None,
            )
            if handle.frames > sink.limit:
                raise _too_long(path, max_duration_s)
            block = np.empty((SOUNDFILE_BLOCK_FRAMES, handle.channels), dtype=np.float32)
            while sink.taken < handle.frames:
                wanted = min(SOUNDFILE_BLOCK_FRAMES, handle.frames - sink.taken)
                got = handle.read(wanted, dtype="float32", always_2d=True, out=block[:wanted])
                count = got.shape[0]
                into = sink.claim(count) if count else None
                if into is None:
                    break
                _sum_into([got[:, index] for index in range(got.shape[1])], into)
    except soundfile.LibsndfileError as exc:
        raise AudioDecodeError(path, DecodeFailure.CORRUPT, str(exc)) from exc
    return sink


def _wav_shortfall(path: Path, size: int) -> str | None:
    """How a WAV file's data chunk claims more bytes than the file holds (None if it does not).

    Both decoders quietly play a cut-off WAV to its end, so the only sign of an interrupted
    upload is the header's own byte count.
    """
    with path.open("rb") as handle:
        handle.seek(RIFF_CHUNK_HEADER_BYTES + RIFF_FORM_TYPE_BYTES)  # past "RIFF", size, "WAVE"
        for _ in range(RIFF_MAX_CHUNKS):
            header = handle.read(RIFF_CHUNK_HEADER_BYTES)
            if len(header) < RIFF_CHUNK_HEADER_BYTES:
                return None
            chunk_id, chunk_size = header[:4], int.from_bytes(header[4:], "little")
            if chunk_id == b"data":
                available = size - handle.tell()
                if chunk_size != RIFF_SIZE_UNKNOWN and chunk_size > available:
                    return f"truncated: data chunk declares {chunk_size} bytes, {available} present"
                return None
            handle.seek(chunk_size + (chunk_size & 1), 1)  # chunks are padded to even sizes
    return None


def _ogg_shortfall(path: Path, size: int) -> str | None:
    """An Ogg stream whose last page lacks the end-of-stream flag was cut off."""
    with path.open("rb") as handle:
        handle.seek(max(0, size - SNIFF_BYTES))
        tail = handle.read()
    last_page = tail.rfind(b"OggS")
    if last_page < 0 or last_page + OGG_HEADER_TYPE_OFFSET >= len(tail):
        return "truncated: no Ogg page in the last block"
    if not tail[last_page + OGG_HEADER_TYPE_OFFSET] & OGG_EOS_FLAG:
        return "truncated: the last Ogg page is not an end-of-stream page"
    return None


def _check_complete(path: Path, found: AudioProbe, decoded_s: float) -> None:
    """A file that decodes to much less than its header declares, or whose container says it
    goes on past the end of the file, was cut short."""
    if decoded_s <= 0.0:
        raise AudioDecodeError(path, DecodeFailure.CORRUPT, "no audio decoded")
    shortfall = None
    if found.container == "wav":
        shortfall = _wav_shortfall(path, found.size_bytes)
    elif found.container == "ogg":
        shortfall = _ogg_shortfall(path, found.size_bytes)
    if shortfall is not None:
        raise AudioDecodeError(path, DecodeFailure.CORRUPT, shortfall)
    declared = found.duration_s
    if (
        declared is not None
        and decoded_s < declared * TRUNCATION_MIN_FRACTION
        and declared - decoded_s > TRUNCATION_MIN_GAP_S
    ):
        raise AudioDecodeError(
            path,
            DecodeFailure.CORRUPT,
            f"truncated: decoded {decoded_s:.2f} s of a declared {declared:.2f} s",
        )


def decode(
    path: Path,
    *,
    sample_rate: int | None,
    max_duration_s: float,
    checked: AudioProbe | None = None,
    stream_to: Callable[[AudioProbe], Stream] | None = None,
) -> Decoded:
    """Decode to mono float32 at the requested rate; raises AudioDecodeError for bad input.

    `checked` is a probe the caller has already validated; without it we probe here. With
    `stream_to`, the samples are handed over in STREAM_BLOCK_FRAMES blocks as they are decoded
    and `samples` comes back empty: it is called with the probe once per decoding attempt
    (a failure of the first decoder falls back to the other from the start, so its consumers
    start afresh).
    """
    found = checked if checked is not None else probe(path)
    pair = (found.container, found.codec)
    backend = "soundfile" if pair in SOUNDFILE_PAIRS else "pyav"
    sink: _MonoSink | None = None
    if backend == "soundfile":
        try:
            sink = _decode_soundfile(path, found, sample_rate, max_duration_s, stream_to)
        except AudioDecodeError as exc:
            if exc.reason is not DecodeFailure.CORRUPT:
                raise
            backend = "pyav"  # libsndfile is stricter about headers than FFmpeg; try it
    if sink is None:
        try:
            found, sink = _decode_pyav(
                path, found.container, sample_rate, max_duration_s, stream_to
            )
        except AudioDecodeError as exc:
            if exc.reason is not DecodeFailure.CORRUPT or pair not in SOUNDFILE_FALLBACK_PAIRS:
                raise
            backend = "soundfile"
            sink = _decode_soundfile(path, found, sample_rate, max_duration_s, stream_to)
    _check_complete(path, found, sink.taken_s)
    return Decoded(
        samples=sink.result(found.channels),
        sample_rate=output_rate(found, sample_rate),
        probe=found,
        backend=backend,
    )
