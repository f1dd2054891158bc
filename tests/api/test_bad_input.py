"""Bad input is a 400 validation errorObject, never a 500 (review 15, finding 4): the confirmed cases
one by one, then arbitrary bytes, JSON and query strings thrown at a few operations, every answer
checked against the served document (ApiWorld.http)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests.api.businesses import add_business, key_header
from tests.api.channels import ALICE, ChannelWorld
from tests.api.tx_helpers import post
from tests.api.world import ApiWorld

ROOMY = {"preauth_burst": 100_000}


def _format_error(answer) -> None:
    assert answer.status == 400, (answer.status, answer.body)
    assert answer.body["errorCategory"] == "validation"
    assert answer.body["errorCode"] == "formatError"


def test_confirmed_bad_bodies_are_format_errors(engine: Engine) -> None:
    world = ApiWorld(engine, api=ROOMY)
    _, key = add_business(world, balance_minor=10_000)
    superscript = {"amount": "1.00", "currency": "KES",
                   "creditParty": [{"key": "walletid", "value": "\u00b2"}]}  # fmt: skip
    _format_error(post(world, key, "transfer", superscript))
    _format_error(post(world, key, "transfer", b"[" * 100_000))  # type: ignore[arg-type]
    _format_error(post(world, key, "transfer", b"1" * 5000))  # type: ignore[arg-type]
    _format_error(post(world, key, "transfer", b"\xff\xfe"))  # type: ignore[arg-type]


def test_confirmed_bad_queries_are_format_errors(engine: Engine) -> None:
    world = ApiWorld(engine, api=ROOMY)
    business, key = add_business(world)
    path = f"/accounts/msisdn/{business.msisdn}/statemententries"
    for query in ("limit=%ff", f"offset={10**23}", "fromDateTime=9999-12-31T00:00:00Z",
                  "toDateTime=0001-01-01T00:00:00Z"):  # fmt: skip
        _format_error(world.http("GET", f"{path}?{query}", headers=key_header(key)))


def test_an_after_past_64_bits_is_a_format_error(engine: Engine, tmp_path: Path) -> None:
    world = ChannelWorld(engine, tmp_path, api=ROOMY)
    try:
        world.add(ALICE)
        token = world.token(world.enrol(ALICE))["token"]
        _format_error(world.get(f"/channels/me/events?after={2**70}", token))
    finally:
        world.close()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ("amount", "currency", "creditParty", "debitParty", "metadata", "descriptionText")
BODY = st.one_of(
    st.binary(max_size=64),
    JSON.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries({}, optional={name: JSON for name in FIELDS}).map(
        lambda value: json.dumps(value).encode()
    ),
)
QUERY = st.lists(
    st.tuples(st.sampled_from(["limit", "offset", "fromDateTime", "toDateTime", "x"]),
              st.binary(max_size=24)),
    max_size=3,
)  # fmt: skip


def test_arbitrary_input_never_gets_a_500(engine: Engine) -> None:
    world = ApiWorld(engine, api=ROOMY)
    business, key = add_business(world, balance_minor=10_000)
    statement = f"/accounts/msisdn/{business.msisdn}/statemententries"

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(kind=st.sampled_from(["transfer", "disbursement", "merchantpay", "billpay"]),
           body=BODY, query=QUERY, keyed=st.booleans())  # fmt: skip
    def run(kind: str, body: bytes, query: list, keyed: bool) -> None:
        headers = key_header(key) if keyed else {}
        answer = world.http("POST", f"/transactions/type/{kind}", body, headers)
        assert answer.status < 500, answer.body
        text = "&".join(f"{name}={quote(value)}" for name, value in query)
        answer = world.http("GET", f"{statement}?{text}", headers=headers)
        assert answer.status < 500, answer.body
        answer = world.http("POST", "/channels/token", body)
        assert answer.status < 500, answer.body

    run()
