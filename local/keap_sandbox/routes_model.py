"""The object models (v2): `GET /v2/{object}/model`, the custom field definitions the
records use and the optional properties, and `POST /v2/{object}/model/customFields`, which
adds a field, for each object Keap's spec documents them for."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from .custom_fields import _TYPES, _WITH_OPTIONS, RECORD_TYPES
from .errors import ApiError, json_response
from .kinds import KINDS
from .parsing import checked, json_body, sandbox_of, served

router = APIRouter()

MODELS = {kind: served("GET", f"/v2/{kind}/model") for kind in RECORD_TYPES}
CREATE_FIELDS = {kind: served("POST", f"/v2/{kind}/model/customFields") for kind in RECORD_TYPES}
FIELD_TYPES = sorted(_TYPES)  # Keap's field types (the contacts carry one of each)


def _kind(request: Request) -> str:
    return request.url.path.split("/v2/", 1)[1].split("/", 1)[0]


async def _model(request: Request) -> Response:
    sb = sandbox_of(request)
    kind = _kind(request)
    checked(request, MODELS[kind])
    fields = sb.operations[f"GET /v2/{kind}"].fields
    default = KINDS[kind].default_fields or frozenset()
    optional = sorted(set(fields.names) - default) if fields else []
    return json_response(
        {
            "custom_fields": [f.model() for f in sb.custom_fields.of(kind)],
            "optional_properties": optional,
        }
    )


def _options(body: dict[str, Any], field_type: str) -> list[str]:
    given = body.get("options") or []
    if not isinstance(given, list):
        raise ApiError(400, "options must be a list")
    labels = [o.get("label") if isinstance(o, dict) else None for o in given]
    if any(not isinstance(label, str) or not label for label in labels):
        raise ApiError(400, "Each option needs a label")
    if field_type in _WITH_OPTIONS and not labels:
        raise ApiError(400, f"A {field_type} field needs options")
    if field_type not in _WITH_OPTIONS and labels:
        raise ApiError(400, f"A {field_type} field takes no options")
    return [str(label) for label in labels]


async def _create_field(request: Request) -> Response:
    sb = sandbox_of(request)
    kind = _kind(request)
    checked(request, CREATE_FIELDS[kind])
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object")
    label, field_type = body.get("label"), body.get("field_type")
    if not isinstance(label, str) or not label.strip():
        raise ApiError(400, "label is required")
    if field_type not in FIELD_TYPES:
        raise ApiError(400, f"field_type must be one of {', '.join(FIELD_TYPES)}")
    if any(f.label == label for f in sb.custom_fields.of(kind)):
        raise ApiError(409, f"A custom field labelled {label!r} already exists")
    fdef = sb.custom_fields.add(kind, label, field_type, _options(body, field_type))
    return json_response(fdef.model(), status=201)


# app.py includes this router before routes_v2, whose /v2/{object}/{id} would otherwise
# take "model".
for _kind_name in RECORD_TYPES:
    router.add_api_route(f"/v2/{_kind_name}/model", _model, methods=["GET"])
    router.add_api_route(f"/v2/{_kind_name}/model/customFields", _create_field, methods=["POST"])
