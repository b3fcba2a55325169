"""Identity verification for logged-in visitors: the embedding site signs its user's id (and,
if it wants agents to see them, the name and email) with a secret it shares with this server
(`CHAT_IDENTITY_SECRET`); a claim whose signature does not match is ignored, never shown as
verified. docs/widget.md, "Logged-in visitors"; docs/security.md, "Identity verification"."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

USER_ID_MAX_CHARS = 128
NAME_MAX_CHARS = 100
EMAIL_MAX_CHARS = 254
# No control characters (a newline would make two claims sign the same text) and not blank.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Identity:
    """A verified visitor: `name` and `email` are "" unless the signature covered them."""

    user_id: str
    name: str = ""
    email: str = ""


def identity_signature(*, secret: str, user_id: str, name: str = "", email: str = "") -> str:
    """The hex HMAC-SHA256 the site puts in `user_hash`: of the user id alone, or of
    `user_id + "\\n" + name + "\\n" + email` when the name and email are to be shown too."""
    message = user_id if not (name or email) else f"{user_id}\n{name}\n{email}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def _clean(value: str | None, max_chars: int) -> str | None:
    """The value as the site signed it; None when it is too long or holds control characters."""
    text = value or ""
    if len(text) > max_chars or _CONTROL.search(text):
        return None
    return text


def _email(value: str | None) -> str | None:
    text = _clean(value, EMAIL_MAX_CHARS)
    if not text:
        return text
    try:
        validate_email(text)
    except ValidationError:
        return None
    return text


def identity_verify(
    *,
    secret: str,
    user_id: str | None,
    user_hash: str | None,
    name: str | None = None,
    email: str | None = None,
) -> Identity | None:
    """The identity a visitor claims, when its signature matches; None otherwise (no secret
    configured, no id, a malformed or wrong hash). Compared in constant time. A hash of the id
    alone verifies the id and drops the name and email: unsigned, they are only claims."""
    uid = _clean(user_id, USER_ID_MAX_CHARS)
    if not secret or not uid or not user_hash or not _HEX_SHA256.match(user_hash):
        return None
    given = user_hash.lower().encode()
    clean_name, clean_email = _clean(name, NAME_MAX_CHARS), _email(email)
    if (clean_name or clean_email) and clean_name is not None and clean_email is not None:
        full = identity_signature(secret=secret, user_id=uid, name=clean_name, email=clean_email)
        if hmac.compare_digest(full.encode(), given):
            return Identity(user_id=uid, name=clean_name, email=clean_email)
    if hmac.compare_digest(identity_signature(secret=secret, user_id=uid).encode(), given):
        return Identity(user_id=uid)
    return None
