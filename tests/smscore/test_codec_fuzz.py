"""Random and mutated byte streams into the stream decoder: only PDUDecodeError, bounded work.

Whatever the decoder accepts must also be encodable: decode(encode(p)) == p for every PDU it yields,
so the decoder never lets through a value the encoder (and so the spec) refuses.
"""

import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smscore.codec import StreamDecoder, decode, encode
from smscore.constants import HEADER_LENGTH
from smscore.errors import PDUDecodeError
from smscore.pdu import PDU
from tests.interop import INTEROP_PATH
from tests.smscore.strategies import any_pdu

INTEROP = INTEROP_PATH
MAX_PDU_LENGTH = 4096
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def drain(stream: bytes, chunk_size: int = 64) -> tuple[list[PDU], int]:
    """Feed `stream` in chunks; return the PDUs decoded and the count of non-fatal errors.

    Each next_pdu() call either waits for bytes, consumes a whole PDU of >= 16 octets, or breaks
    the decoder for good, so the number of calls is bounded by the stream length: assert it.
    """
    decoder = StreamDecoder(max_pdu_length=MAX_PDU_LENGTH)
    pdus: list[PDU] = []
    errors = calls = 0
    for pos in range(0, len(stream), chunk_size):
        decoder.feed(stream[pos : pos + chunk_size])
        assert decoder.buffered_bytes <= MAX_PDU_LENGTH + chunk_size
        while True:
            calls += 1
            assert calls <= len(stream) // HEADER_LENGTH + len(stream) // chunk_size + 2
            try:
                pdu = decoder.next_pdu()
            except PDUDecodeError as error:
                if error.fatal:
                    return pdus, errors
                errors += 1
                continue
            if pdu is None:
                break
            pdus.append(pdu)
    return pdus, errors


def assert_reencodable(pdus: list[PDU]) -> None:
    for pdu in pdus:
        assert decode(encode(pdu)) == pdu


@FUZZ
@given(stream=st.binary(max_size=600), chunk_size=st.integers(1, 100))
def test_random_bytes(stream: bytes, chunk_size: int) -> None:
    pdus, _ = drain(stream, chunk_size)
    assert_reencodable(pdus)


@st.composite
def framed_garbage(draw: st.DrawFn) -> bytes:
    """Random bodies behind plausible headers, so the fuzz reaches the field decoders."""
    body = draw(st.binary(max_size=200))
    command_id = draw(
        st.one_of(
            st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 9, 0xB, 0x15, 0x21, 0x102, 0x103]),
            st.integers(0, 0xFFFF_FFFF),
        ).map(lambda cid: cid | draw(st.sampled_from([0, 0x8000_0000])))
    )
    header = (HEADER_LENGTH + len(body)).to_bytes(4, "big") + command_id.to_bytes(4, "big")
    return header + draw(st.binary(min_size=8, max_size=8)) + body


@FUZZ
@given(parts=st.lists(framed_garbage(), min_size=1, max_size=6))
def test_framed_random_bodies(parts: list[bytes]) -> None:
    pdus, errors = drain(b"".join(parts))
    assert len(pdus) + errors == len(parts)  # framing intact: one outcome per PDU
    assert_reencodable(pdus)


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    stream = bytearray(b"".join(encode(pdu) for pdu in draw(st.lists(any_pdu(), max_size=4))))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "truncate", "splice", "insert", "delete"]))
        pos = draw(st.integers(0, max(len(stream) - 1, 0)))
        if action == "flip" and stream:
            stream[pos] ^= 1 << draw(st.integers(0, 7))
        elif action == "truncate":
            del stream[pos:]
        elif action == "splice":
            other = encode(draw(any_pdu()))
            stream[pos:pos] = other[draw(st.integers(0, len(other))) :]
        elif action == "insert":
            stream[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del stream[pos : pos + draw(st.integers(1, 8))]
    return bytes(stream)


@FUZZ
@given(stream=mutated_streams(), chunk_size=st.integers(1, 300))
def test_mutated_valid_pdus(stream: bytes, chunk_size: int) -> None:
    pdus, _ = drain(stream, chunk_size)
    assert_reencodable(pdus)


def _corpus() -> list[bytes]:
    lines = INTEROP.read_text().splitlines()
    return [bytes.fromhex(json.loads(line)["hex"]) for line in lines]


def _mutate(rng: random.Random, corpus: list[bytes]) -> bytes:
    data = bytearray(rng.choice(corpus))
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(data)) if data else 0
        roll = rng.random()
        if roll < 0.5 and data:
            data[pos] ^= 1 << rng.randrange(8)
        elif roll < 0.65 and data:
            data[pos] = rng.choice((0, 0xFF, 0x7F, 0x80, 1))
        elif roll < 0.8:
            del data[pos:]
        else:
            other = rng.choice(corpus)
            data[pos:] = other[rng.randrange(len(other)) :]
    return bytes(data)


def test_seeded_mutation_loop() -> None:
    """~20,000 deterministic mutations of real PDUs (bit flips, bytes, truncation, splicing)."""
    rng = random.Random(20_000)
    corpus = _corpus()
    outcomes = {"pdu": 0, "error": 0}
    for _ in range(20_000):
        pdus, errors = drain(_mutate(rng, corpus), chunk_size=rng.randint(1, 512))
        assert_reencodable(pdus)
        outcomes["pdu"] += len(pdus)
        outcomes["error"] += errors
    # Both paths must be exercised, or the loop proves nothing.
    assert outcomes["pdu"] > 2_000 and outcomes["error"] > 2_000, outcomes
