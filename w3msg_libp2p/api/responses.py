"""Response and request helpers shared by the REST routes (nwaku's content types)."""

from __future__ import annotations

import json
from typing import Any

from quart import Response, request

from .parsing import parse_json_body


def text_response(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def ok() -> Response:
    """nwaku's success answer for commands: 200, text/plain, ``OK``."""
    return text_response("OK")


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status=status, mimetype="application/json")


async def read_json() -> Any:
    """The current request's JSON body; refused (400) as nwaku refuses it."""
    body = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    return parse_json_body(body, request.headers.get("Content-Type"))
