"""Magic-byte sniffing: which media types the first bytes of a body can be.

The proxy serves a body only when the type the origin declared is allowed *and* is one
of the types its first bytes can be, so an HTML or SVG page labelled ``image/png`` is
refused rather than relabelled.  Only types with an unambiguous signature are listed;
a type without one (SVG, plain text) cannot be allowed.
"""
from __future__ import annotations

__all__ = ["ALIASES", "SNIFFABLE", "SNIFF_BYTES", "normalize", "sniff"]

#: How many leading bytes sniff() wants (it decides on fewer at end of body).
SNIFF_BYTES = 64

_MP4 = frozenset({"video/mp4", "audio/mp4", "audio/x-m4a", "video/x-m4v"})
_OGG = frozenset({"audio/ogg", "video/ogg", "application/ogg"})
_MKV = frozenset({"video/webm", "audio/webm", "video/x-matroska"})

#: Every type some signature can confirm.
SNIFFABLE: frozenset[str] = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/x-icon",
    "image/avif", "image/tiff", "audio/mpeg", "audio/wav", "audio/flac", "audio/aac",
    "video/quicktime", "application/pdf"}) | _MP4 | _OGG | _MKV

#: Common non-canonical names origins send, and the canonical type they mean.
ALIASES: dict[str, str] = {
    "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg",
    "image/vnd.microsoft.icon": "image/x-icon", "image/x-ms-bmp": "image/bmp",
    "audio/mp3": "audio/mpeg", "audio/x-wav": "audio/wav", "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav", "audio/x-flac": "audio/flac", "audio/x-aac": "audio/aac",
    "audio/m4a": "audio/x-m4a",
}


def normalize(content_type: str) -> str:
    """The bare, lower-case, canonical media type of a Content-Type header value."""
    bare = content_type.split(";", 1)[0].strip().lower()
    return ALIASES.get(bare, bare)


def sniff(head: bytes) -> frozenset[str]:
    """The media types HEAD (a body's first bytes) is consistent with; empty when none."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return frozenset({"image/png"})
    if head.startswith(b"\xff\xd8\xff"):
        return frozenset({"image/jpeg"})
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return frozenset({"image/gif"})
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return frozenset({"image/webp"})
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return frozenset({"audio/wav"})
    if head[:2] == b"BM" and len(head) >= 14:
        return frozenset({"image/bmp"})
    if head[:4] == b"\x00\x00\x01\x00":
        return frozenset({"image/x-icon"})
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return frozenset({"image/tiff"})
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return frozenset({"image/avif"})
        if brand == b"qt  ":
            return frozenset({"video/quicktime"})
        if brand[:3] in (b"hei", b"hev", b"mif", b"msf"):   # HEIF stills: not served as mp4
            return frozenset()
        return _MP4
    if head.startswith(b"OggS"):
        return _OGG
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _MKV
    if head.startswith(b"fLaC"):
        return frozenset({"audio/flac"})
    if head.startswith(b"ID3"):
        return frozenset({"audio/mpeg"})
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:                  # ADTS sync word, layer 00
            return frozenset({"audio/aac"})
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06:  # MPEG audio frame sync, layer != 00
            return frozenset({"audio/mpeg"})
    if head.startswith(b"%PDF-"):
        return frozenset({"application/pdf"})
    return frozenset()
