"""How a webhook body is signed: `X-Signature: sha256=<hex HMAC-SHA256 of the exact body>`."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Signature"
SIGNATURE_PREFIX = "sha256="
CLOUDEVENTS_JSON = "application/cloudevents+json"


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the exact body>`, the value of the X-Signature header."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return header is not None and hmac.compare_digest(signature(secret, body), header)
