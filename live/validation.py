"""The edge's checks of everything a client sends, before the core sees it.

Every client input is answered with a 4xx ``RequestRejected`` (status, code, message, field),
never an exception from deeper down: the body's media type (415), size (413), encoding
(UTF-8), nesting depth and JSON syntax, duplicate and unknown members (400
``parameter_unknown``), every text field well-formed Unicode (no lone surrogate, which neither
Postgres nor UTF-8 can carry) without NUL, the Idempotency-Key header given exactly once, and
path ids that could exist at all. Messages echo client text only ASCII-escaped, so an error
body can always be encoded.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from core.domain import MAX_AMOUNT, PaymentRequest, ValidationError, validate_idempotency_key

MAX_FIELD_LENGTH = 255
MAX_METADATA_ITEMS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500
MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 8
"""The request needs 2 (the body, its metadata); a deeper body is refused before parsing."""
MAX_ID_LENGTH = 255

FIELDS = frozenset({"merchant", "order", "amount", "currency", "source", "metadata"})
TEXT_FIELDS = ("merchant", "order", "currency", "source")

TEXT_PATTERN = r"^[^\x00]*[^\x00\s][^\x00]*$"
"""At least one character that is not whitespace, no NUL. Lone surrogates are refused too
(``well_formed``), but not in the pattern: JSON Schema strings are code points, I-JSON
(RFC 7493) already excludes them, and regex engines disagree on surrogate ranges."""
ANY_TEXT_PATTERN = r"^[^\x00]*$"
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
_TEXT_RE = re.compile(TEXT_PATTERN)
_ID_RE = re.compile(ID_PATTERN)
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


class RequestRejected(Exception):
    """A client input the service refuses: answered ``status`` with ``{code, message}``."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def shown(value: str, limit: int = 60) -> str:
    """Client text as an error message may quote it: ASCII-escaped, bounded."""
    text = ascii(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def key_from_headers(values: list[str]) -> str:
    """The one Idempotency-Key: missing, repeated (a list is not a key) or malformed is 400."""
    if not values:
        raise RequestRejected(
            400,
            "idempotency_key_missing",
            "the Idempotency-Key header is required",
            "idempotency_key",
        )
    if len(values) > 1:
        raise RequestRejected(
            400,
            "idempotency_key_invalid",
            f"the Idempotency-Key header was sent {len(values)} times; send it once",
            "idempotency_key",
        )
    value = values[0]
    try:
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            value = value[1:-1]  # an RFC 8941 sf-string (IETF draft)
            if '"' in value or "\\" in value:
                raise ValidationError("idempotency_key", "escaped characters are not supported")
        return validate_idempotency_key(value)
    except ValidationError as exc:
        raise RequestRejected(400, "idempotency_key_invalid", exc.message, exc.field) from None


def check_content_type(value: str | None) -> None:
    """Only ``application/json`` (UTF-8) bodies: anything else is 415."""
    media, _, params = (value or "").partition(";")
    if media.strip().lower() != "application/json":
        shown_type = shown(value) if value else "none"
        raise RequestRejected(
            415,
            "unsupported_media_type",
            f"the body must be application/json; got {shown_type}",
            "content-type",
        )
    for param in params.split(";"):
        name, _, v = param.partition("=")
        if name.strip().lower() == "charset" and v.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise RequestRejected(
                415, "unsupported_media_type", "the body must be UTF-8", "content-type"
            )


def too_large() -> RequestRejected:
    return RequestRejected(
        413, "body_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes", "body"
    )


async def read_limited(chunks: AsyncIterator[bytes], declared: str | None) -> bytes:
    """The body, refusing (413) a declared or actual size over ``MAX_BODY_BYTES`` without
    reading more than that."""
    if declared is not None and declared.strip().isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large()
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large()
    return bytes(body)


def _too_deep(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit`` (scanned only when there
    are more brackets than that at all: an ordinary body costs two ``count`` calls)."""
    if text.count("{") + text.count("[") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            if depth > limit:
                return True
        elif ch in "}]":
            depth -= 1
    return False


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise RequestRejected(
                400, "invalid_request", f"member {shown(name)} appears twice", "body"
            )
        out[name] = value
    return out


def _no_constant(name: str) -> Any:
    raise RequestRejected(400, "invalid_request", f"{name} is not a JSON number", "body")


def well_formed(field: str, value: str, limit: int, *, needs_text: bool) -> None:
    """Well-formed Unicode (no lone surrogate), no NUL, at most ``limit`` characters."""
    if len(value) > limit:
        raise RequestRejected(
            400,
            "invalid_request",
            f"{field} is {len(value)} characters long; at most {limit}",
            field,
        )
    if "\x00" in value:
        raise RequestRejected(400, "invalid_request", f"{field} must not contain NUL", field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestRejected(
            400,
            "invalid_request",
            f"{field} is not well-formed Unicode (a lone surrogate)",
            field,
        ) from None
    if needs_text and not _TEXT_RE.match(value):
        raise RequestRejected(400, "invalid_request", f"{field} must not be blank", field)


def parse_body(raw: bytes, key: str, merchant: str | None = None) -> PaymentRequest:
    """A ``PaymentRequest`` from the raw body, or ``RequestRejected``.

    ``merchant`` is the authenticated merchant (``live.merchant_keys``): a body without
    ``merchant`` takes it, a body naming another merchant is 403 ``merchant_mismatch``."""
    if len(raw) > MAX_BODY_BYTES:
        raise too_large()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestRejected(
            400, "invalid_request", f"the body is not UTF-8 (byte {exc.start})", "body"
        ) from None
    if _too_deep(text, MAX_JSON_DEPTH):
        raise RequestRejected(
            400, "invalid_request", f"the body nests deeper than {MAX_JSON_DEPTH} levels", "body"
        )
    try:
        body = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except ValueError as exc:  # JSONDecodeError, and int() of more than 4300 digits
        raise RequestRejected(
            400, "invalid_request", f"the body is not valid JSON: {shown(str(exc), 120)}", "body"
        ) from None
    if not isinstance(body, dict):
        raise RequestRejected(400, "invalid_request", "the body must be a JSON object", "body")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise RequestRejected(
            400,
            "parameter_unknown",
            f"unknown parameter {shown(unknown[0])}; allowed: {', '.join(sorted(FIELDS))}",
            unknown[0] if unknown[0].isascii() and unknown[0].isprintable() else "body",
        )
    for name in TEXT_FIELDS:
        value = body.get(name)
        if isinstance(value, str):
            well_formed(name, value, MAX_FIELD_LENGTH, needs_text=True)
        elif name in body:
            raise RequestRejected(400, "invalid_request", f"{name} must be a string", name)
    amount = body.get("amount")
    if isinstance(amount, float) and amount.is_integer() and abs(amount) <= MAX_AMOUNT * 10:
        # JSON Schema's "integer" includes 1999.0; it is the same number as 1999.
        body["amount"] = int(amount)
    if "metadata" in body:  # null, [], "" and false are not an object either
        _check_metadata(body["metadata"])
    if merchant is not None:
        if "merchant" not in body:
            body["merchant"] = merchant
        elif body["merchant"] != merchant:
            raise RequestRejected(
                403,
                "merchant_mismatch",
                "the body's merchant is not the merchant of the API key",
                "merchant",
            )
    try:
        return PaymentRequest.from_json(body, key)
    except ValidationError as exc:
        raise RequestRejected(
            400, "invalid_request", f"{exc.field} {exc.message}", exc.field
        ) from None
    except (TypeError, AttributeError) as exc:
        raise RequestRejected(
            400, "invalid_request", f"the body has fields of the wrong type: {exc}", "body"
        ) from None


def _check_metadata(metadata: object) -> None:
    if not isinstance(metadata, Mapping):
        raise RequestRejected(
            400, "invalid_request", "metadata must be an object of strings", "metadata"
        )
    if len(metadata) > MAX_METADATA_ITEMS:
        raise RequestRejected(
            400,
            "invalid_request",
            f"metadata has at most {MAX_METADATA_ITEMS} entries",
            "metadata",
        )
    for name, value in metadata.items():
        well_formed("metadata", name, MAX_METADATA_KEY, needs_text=False)
        if not isinstance(value, str):
            raise RequestRejected(
                400, "invalid_request", "metadata values must be strings", "metadata"
            )
        well_formed("metadata", value, MAX_METADATA_VALUE, needs_text=False)


def payment_id_could_exist(payment_id: str) -> bool:
    """Whether a stored payment could have this id (1-255 characters, no control character,
    no lone surrogate); any other is answered 404 without asking the database."""
    return (
        len(payment_id) <= MAX_ID_LENGTH
        and _ID_RE.match(payment_id) is not None
        and _SURROGATE_RE.search(payment_id) is None
    )
