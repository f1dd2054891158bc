"""The OpenAPI 3.1 document of the operations a site serves, built from the operations'
declarations and their pydantic models (served at GET /openapi.json)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from daemon.api.errors import CATEGORY_STATUS
from daemon.api.routing import Header, Operation

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{model}"
_ERROR_STATUSES = sorted(set(CATEGORY_STATUS.values()) | {429})
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted: the request state tells how it goes on",
    204: "No content",
    400: "An error caused by a business rule or a validation failure",
    401: "An error caused by an authorisation failure",
    404: "An error caused by a failure to identify the target resource",
    405: "Method not allowed on this path",
    429: "Too many requests: the business's rate limit, or the address's before authentication",
    500: "An error caused by a general server-side issue",
    503: "An error caused by system unavailability",
}
RETRY_AFTER = Header("Retry-After", "seconds until a request is admitted again", required=True)
WWW_AUTHENTICATE = Header("WWW-Authenticate", "Bearer: the channel token scheme")
METHOD_NOT_ALLOWED = "Another method on a listed path is answered 405 with an errorObject."
SECURITY_SCHEMES = {
    "business": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "channel": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
}


def _models(operations: Sequence[Operation]) -> list[type[BaseModel]]:
    from daemon.api.models import ErrorObject  # the errorObject every operation may answer

    found: dict[str, type[BaseModel]] = {"ErrorObject": ErrorObject}
    for operation in operations:
        for model in (operation.body, *operation.responses.values()):
            if isinstance(model, type) and issubclass(model, BaseModel):
                found.setdefault(model.__name__, model)
    return list(found.values())


def _schemas(models: list[type[BaseModel]]) -> dict[str, Any]:
    pairs = [(model, "validation") for model in models] + [
        (model, "serialization") for model in models
    ]
    _, top = models_json_schema(pairs, ref_template=_REF)
    return top.get("$defs", {})


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": _REF.format(model=model.__name__)}


def _parameters(operation: Operation) -> list[dict]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in operation.path_parameters
    ]
    parameters += [
        {"name": h.name, "in": "header", "required": h.required, "description": h.description,
         "schema": {"type": "string"}}
        for h in operation.headers
    ]  # fmt: skip
    if operation.query is not None:
        for name, info in operation.query.model_fields.items():
            schema = operation.query.model_json_schema()["properties"].get(info.alias or name, {})
            parameters.append(
                {"name": info.alias or name, "in": "query", "required": info.is_required(),
                 "schema": schema}
            )  # fmt: skip
    return parameters


def _responses(operation: Operation) -> dict[str, Any]:
    from daemon.api.models import ErrorObject

    responses: dict[str, Any] = {}
    for status, model in operation.responses.items():
        answer: dict[str, Any] = {"description": _STATUS_TEXT.get(status, str(status))}
        if operation.stream and status == 200:
            answer["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
        elif isinstance(model, dict):  # a plain JSON schema (e.g. this document's own)
            answer["content"] = {"application/json": {"schema": model}}
        elif model is not None:
            answer["content"] = {"application/json": {"schema": _ref(model)}}
        responses[str(status)] = answer
    for status in _ERROR_STATUSES:
        if str(status) not in responses and (status != 401 or operation.auth is not None):
            responses[str(status)] = {
                "description": _STATUS_TEXT[status],
                "content": {"application/json": {"schema": _ref(ErrorObject)}},
            }
    for status, headers in _response_headers(operation).items():
        if str(status) in responses:
            responses[str(status)]["headers"] = {
                h.name: {"description": h.description, "required": h.required,
                         "schema": {"type": "integer" if h.name == "Retry-After" else "string"}}
                for h in headers
            }  # fmt: skip
    return responses


def _response_headers(operation: Operation) -> dict[int, list[Header]]:
    found = {status: list(headers) for status, headers in operation.response_headers.items()}
    found.setdefault(429, []).append(RETRY_AFTER)  # every request passes the address limit
    if operation.path.startswith("/channels/"):  # the channel authenticator's refusals
        found.setdefault(401, []).append(WWW_AUTHENTICATE)
    return found


def _operation(operation: Operation) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": _parameters(operation),
        "responses": _responses(operation),
    }
    if operation.description:
        entry["description"] = operation.description
    if operation.body is not None:
        entry["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(operation.body)}},
        }
    entry["security"] = [{operation.auth: []}] if operation.auth else []
    return entry


def openapi_document(
    operations: Sequence[Operation], *, title: str, version: str, server_url: str
) -> dict:
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": METHOD_NOT_ALLOWED},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": _schemas(_models(operations)),
            "securitySchemes": SECURITY_SCHEMES,
            "responses": {
                "MethodNotAllowed": {
                    "description": _STATUS_TEXT[405],
                    "content": {
                        "application/json": {"schema": {"$ref": _REF.format(model="ErrorObject")}}
                    },
                }
            },
        },
    }
