"""The JSON API's own description: `GET /api/openapi.json`.

The document is written by hand as YAML next to this module (`openapi.yaml`,
shipped in the wheel with the package), where a person can read and review
it; clients and tools (schemathesis, code generators) want JSON, so it is
served as JSON. It is read and converted once per process: it only changes
with a release. Like the rest of `/api`, any logged-in account may read it
(anonymous -> 401): it tells nothing a hotliner's console does not use, but
an anonymous visitor has no business mapping the API.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import yaml
from flask import Blueprint, Response
from flask.typing import ResponseReturnValue

from web.auth import api_login_required

bp = Blueprint("openapi", __name__, url_prefix="/api")

#: The document's file, inside the `web` package.
DOCUMENT = "openapi.yaml"


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document, parsed once (tests read it too)."""
    text = resources.files("web").joinpath(DOCUMENT).read_text(encoding="utf-8")
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise ValueError(f"web/{DOCUMENT} is not a mapping")
    return loaded


@functools.cache
def _document_json() -> str:
    """The document as JSON text, in the order it is written (Flask's
    `jsonify` would sort the keys: paths and fields lose their grouping)."""
    return json.dumps(document(), ensure_ascii=False, indent=1)


@bp.get("/openapi.json")
@api_login_required
def openapi_json() -> ResponseReturnValue:
    return Response(_document_json(), mimetype="application/json")
