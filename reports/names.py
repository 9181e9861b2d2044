"""File names and anchors of the site, made from strings a record holds (which are not trusted)."""

from __future__ import annotations

import hashlib
import re

CLAUSE_ID = re.compile(r"[a-z0-9_]+\.[a-z0-9_]+")  # the catalogue's shape: family.name


def digest(*parts: str | None, length: int = 8) -> str:
    """A short, stable hash of arbitrary strings."""
    text = "\x1f".join(p or "" for p in parts)
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def slug(*parts: str | None, digest_length: int = 8) -> str:
    """A readable, collision-safe file name for arbitrary strings."""
    readable = re.sub(r"[^a-z0-9]+", "-", "\x1f".join(p or "" for p in parts).lower()).strip("-")[:40] or "x"
    return f"{readable}-{digest(*parts, length=digest_length)}"


def clause_file_name(check: str) -> str:
    """A clause id as it is when it has the catalogue's shape, else a slug: `../` never leaves the site."""
    return check if CLAUSE_ID.fullmatch(check) else slug(check)
