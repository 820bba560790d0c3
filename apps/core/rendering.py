"""DRF renderer and parser over orjson, so graph values (messages, interrupts) encode as the
reference server encodes them."""

from __future__ import annotations

import orjson
from rest_framework import parsers, renderers
from rest_framework.exceptions import ParseError

from apps.core.encoding import dumps


class JSONRenderer(renderers.BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code == 204:
            return b""
        return dumps(data)


class JSONParser(parsers.BaseParser):
    """Parses a JSON body; an empty body reads as ``{}`` (the clients send none for some POSTs)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if not raw.strip():
            return {}
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError(str(exc)) from None
