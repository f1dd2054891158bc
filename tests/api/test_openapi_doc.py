"""The served OpenAPI document is valid OpenAPI 3.1 (openapi-spec-validator) and lists every
declared operation; an unknown path is a 404."""

import json

import pytest
from openapi_spec_validator import validate

from daemon.api.server import load_routes
from tests.api.world import ApiWorld, written


def test_the_served_document_is_valid_openapi(api_world: ApiWorld) -> None:
    answer = api_world.http("GET", "/openapi.json")
    assert answer.status == 200
    validate(answer.body)
    operations = {
        entry["operationId"]
        for methods in answer.body["paths"].values()
        for entry in methods.values()
    }
    assert operations == {op.operation_id for op in load_routes().operations}


def test_every_error_answer_is_documented_as_an_error_object(api_world: ApiWorld) -> None:
    document = api_world.http("GET", "/openapi.json").body
    for methods in document["paths"].values():
        for entry in methods.values():
            for status in ("400", "404", "500", "503"):
                schema = entry["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorObject"}


def test_an_answer_the_document_does_not_describe_fails_the_check(api_world: ApiWorld) -> None:
    answer = api_world.http("GET", "/openapi.json")
    with pytest.raises(AssertionError, match="not as documented"):
        api_world.conformance().check("GET", "/openapi.json", 299, answer.headers, answer.raw)


def test_an_unknown_path_or_method_is_an_error_object_not_html(api_world: ApiWorld) -> None:
    missing = api_world.request("GET", "/no/such/thing")
    assert missing.code == 404
    body = json.loads(written(missing))
    assert body["errorCategory"] == "identification" and body["errorCode"] == "genericError"
    wrong_method = api_world.request("DELETE", "/openapi.json")
    assert wrong_method.code == 405
    assert json.loads(written(wrong_method))["errorCategory"] == "validation"


def test_the_document_is_built_once_per_site_not_per_request(engine, monkeypatch) -> None:
    from daemon.api import openapi

    built = []
    real = openapi._schemas
    monkeypatch.setattr(openapi, "_schemas", lambda models: built.append(1) or real(models))
    world = ApiWorld(engine)
    assert len(built) == 1  # with the site, before any request
    first = world.http("GET", "/openapi.json")
    second = world.http("GET", "/openapi.json")
    assert len(built) == 1
    assert first.raw == second.raw and first.status == 200


def test_the_document_describes_405_retry_after_and_www_authenticate(api_world: ApiWorld) -> None:
    """Review 15, finding 20: every answer the code gives is in the document."""
    document = api_world.http("GET", "/openapi.json").body
    not_allowed = document["components"]["responses"]["MethodNotAllowed"]
    assert not_allowed["content"]["application/json"]["schema"]["$ref"].endswith("ErrorObject")
    assert "405" in document["info"]["description"]
    for path, methods in document["paths"].items():
        for entry in methods.values():
            retry = entry["responses"]["429"]["headers"]["Retry-After"]
            assert retry["required"] is True and retry["schema"]["type"] == "integer"
            if path.startswith("/channels/") and "401" in entry["responses"]:
                assert "WWW-Authenticate" in entry["responses"]["401"]["headers"]


def test_declared_response_headers_are_documented() -> None:
    from daemon.api.openapi import openapi_document
    from daemon.api.routing import Header, Router

    router = Router()
    router.op("GET", "/x", "xGET", summary="x", tag="t", responses={200: None},
              response_headers={200: (Header("X-Count", "how many"),)})(lambda call: None)  # fmt: skip
    document = openapi_document(router.operations, title="t", version="1", server_url="http://h")
    header = document["paths"]["/x"]["get"]["responses"]["200"]["headers"]["X-Count"]
    assert header["description"] == "how many"
