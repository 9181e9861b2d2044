"""Users, tokens and the masking that keeps secrets out of logs."""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable, Mapping

DEFAULT_USER = "user"

# A user or organization name on the Hub: also used as a directory name, so keep it strict.
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")

# Anything looking like a Hub token, wherever it shows up (URLs, messages).
_TOKEN_LIKE = re.compile(r"\bhf_[A-Za-z0-9_-]{6,}")
_SECRET_PARAM = re.compile(r"(?i)([?&](?:token|access_token|api_key|key|secret|signature)=)[^&#\s]*")
# The per-batch secret of LFS upload URLs: /_lfs/{type}s/{ns}/{name}/{secret}/{oid}
_LFS_SECRET = re.compile(r"(/_lfs/(?:[^/\s]+/){3})[^/?#\s]+")


def new_token() -> str:
    """A random token in the Hub's format (`hf_` + 34 characters)."""
    return "hf_" + secrets.token_urlsafe(26).replace("-", "A").replace("_", "b")[:34]


def parse_token_spec(spec: str) -> tuple[str, str]:
    """`user:token` -> (user, token); a bare token belongs to the default user."""
    user, sep, token = spec.partition(":")
    if not sep:
        user, token = DEFAULT_USER, spec
    if not NAME_RE.match(user):
        raise ValueError(f"invalid user name in token spec: {user!r}")
    if not token or any(c.isspace() for c in token):
        raise ValueError("a token must be non-empty and contain no whitespace")
    return user, token


class Users:
    """Token -> user lookup. A user owns the namespace with its name (no organizations)."""

    def __init__(self, tokens: Mapping[str, str] | None = None) -> None:
        # `tokens` maps user -> token; several tokens per user are allowed via `add`.
        self._tokens: list[tuple[str, str]] = []
        for user, token in (tokens or {}).items():
            self.add(user, token)

    def add(self, user: str, token: str) -> None:
        if not NAME_RE.match(user):
            raise ValueError(f"invalid user name: {user!r}")
        self._tokens.append((token, user))

    @property
    def names(self) -> list[str]:
        return sorted({user for _, user in self._tokens})

    def tokens(self) -> list[str]:
        return [token for token, _ in self._tokens]

    def user_for(self, token: str) -> str | None:
        # Compare every entry in constant time so timing does not reveal a token prefix.
        found = None
        for known, user in self._tokens:
            if hmac.compare_digest(known.encode(), token.encode()):
                found = user
        return found


class Masker:
    """Replaces known secrets, token-looking strings and secret query values by `***`."""

    def __init__(self, secrets_: Iterable[str] = ()) -> None:
        self._secrets: set[str] = {s for s in secrets_ if s}

    def add(self, secret: str) -> None:
        if secret:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, "***")
        text = _TOKEN_LIKE.sub("hf_***", text)
        text = _LFS_SECRET.sub(r"\1***", text)
        return _SECRET_PARAM.sub(r"\1***", text)
