"""A JSON parser that reads NaN and Infinity literals, so the schema check (not the parser) can say what is wrong."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any, Protocol

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser

from mlmonitor.errors import ApplicationError


class Readable(Protocol):
    """A request body: an HttpRequest or a file."""

    def read(self, n: int, /) -> bytes:
        """Read at most n bytes."""
        ...


def json_body_read(stream: Readable | None) -> bytes:
    """The raw body, at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes; a longer one is a 413 `body_too_large`."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = stream.read(limit + 1) if stream is not None else b""
    if limit is not None and len(raw) > limit:
        raise ApplicationError(
            f"The request body exceeds the limit of {limit} bytes.", code="body_too_large", status=413
        )
    return raw


def json_body_parse(raw: bytes) -> Any:
    """Decode a UTF-8 JSON body; ParseError (400 `parse_error`) names what is wrong.

    orjson first (RFC 8259, several times faster than the standard library on small bodies); what it refuses (NaN or
    Infinity tokens, integers beyond 64 bits, lone surrogates, and malformed JSON) goes through `json.loads`, which
    accepts the first three and gives the error message for the last, so the outcome is exactly the standard
    library's."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    if not raw.strip():
        raise ParseError("The request body is empty; a JSON document is expected.")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ParseError(f"Request body is not valid UTF-8: {exc}") from exc
    except ValueError as exc:
        raise ParseError(f"Malformed JSON: {exc}") from exc
    except RecursionError as exc:  # "[[[[..." nested deeper than the interpreter's stack allows
        raise ParseError("Malformed JSON: nested too deeply.") from exc


class JSONParser(DRFJSONParser):
    """Parse JSON; malformed bodies raise a ParseError naming the position."""

    def parse(
        self, stream: IO[Any] | None, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        """Decode the body as UTF-8 JSON, accepting NaN/Infinity tokens (checked later against the schema)."""
        return json_body_parse(json_body_read(stream))


def content_length(meta: Mapping[str, Any]) -> int:
    """CONTENT_LENGTH of a WSGI environ (or request.META) as DRF reads it: a missing or malformed one is 0 (DRF then
    parses no body)."""
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except (ValueError, TypeError):
        return 0
