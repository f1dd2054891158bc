"""Hostile SMPP input, seeded (a failure replays): valid PDUs of every command, mutated or random
ones with their framing kept, and what SMPP 3.4 says the receiving ESME answers to each one (the
oracle the live test, tests/e2e/test_hostile_smsc.py, and the unit test of the protocol,
tests/smscore/test_protocol_hostile.py, both hold the daemon to)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from smscore.codec import decode, encode
from smscore.constants import CommandId as C
from smscore.errors import PDUDecodeError, SMPPError
from smscore.pdu import PDU_CLASSES, DeliverSm, GenericNack
from smscore.status import CommandStatus as S

TEMPORARY = frozenset({S.ESME_RX_T_APPN, S.ESME_RTHROTTLED})  # refused for now: delivered again


def valid_pdus(rng: random.Random) -> list[bytes]:
    """One valid PDU of every SMPP 3.4 command that smscore.pdu builds from its defaults, and a
    deliver_sm with a text: the material `mutate` damages."""
    samples = []
    for cls in PDU_CLASSES.values():
        try:
            samples.append(encode(cls()))
        except SMPPError:  # a command whose empty fields the encoder refuses
            continue
    number = f"2547199{rng.randrange(10**5):05d}"
    samples.append(
        encode(DeliverSm(source_addr=number, destination_addr="12345", short_message=b"HI"))
    )
    return samples


def mutate(rng: random.Random, data: bytes) -> bytes:
    """A few bit flips, byte stamps, truncations or insertions in the body of a PDU; the
    command_length is set again to the new length, so framing holds and the field decoders get
    the damage (framing attacks are separate cases)."""
    body = bytearray(data[4:])
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(body)) if body else 0
        roll = rng.random()
        if roll < 0.4 and body:
            body[pos] ^= 1 << rng.randrange(8)
        elif roll < 0.6 and body:
            body[pos] = rng.choice((0, 0xFF, 0x7F, 0x80, 1))
        elif roll < 0.75 and len(body) > 12:
            del body[max(pos, 12) :]
        else:
            body[pos:pos] = rng.randbytes(rng.randint(1, 12))
    while len(body) < 12:
        body.append(0)
    return (len(body) + 4).to_bytes(4, "big") + bytes(body)


def random_pdu(rng: random.Random) -> bytes:
    """Random bytes behind a header with a right length: any command_id, any body."""
    command_id = rng.choice([*PDU_CLASSES, rng.randrange(2**32)])
    body = rng.randbytes(rng.randint(0, 200))
    header = (16 + len(body)).to_bytes(4, "big") + command_id.to_bytes(4, "big")
    return header + rng.randbytes(4) + rng.randrange(2**31).to_bytes(4, "big") + body


@dataclass(frozen=True)
class Expected:
    answer_id: int | None  # the command_id of the one answer, None: no answer
    statuses: frozenset[int] = frozenset()
    closes: bool = False


def expected_answer(data: bytes) -> Expected:
    """What SMPP 3.4 says the receiving ESME answers to `data` (one whole PDU), judged with
    smscore's codec: a malformed request gets its own *_resp (generic_nack when it has none or the
    command is unknown) with the status the decoder names; a response gets nothing."""
    try:
        pdu = decode(data)
    except PDUDecodeError as error:
        cls = PDU_CLASSES.get(error.command_id) if error.command_id is not None else None
        if cls is not None and cls.is_response:
            return Expected(None)
        answer = cls.response_class if cls is not None and cls.response_class else GenericNack
        return Expected(answer.command_id, frozenset({error.status}), closes=error.fatal)
    if pdu.is_response or pdu.command_id in (C.GENERIC_NACK, C.ALERT_NOTIFICATION):
        return Expected(None)
    if pdu.command_id in (C.DELIVER_SM, C.DATA_SM):
        return Expected(pdu.response_class.command_id, frozenset({S.ESME_ROK, *TEMPORARY}))
    if pdu.command_id in (C.ENQUIRE_LINK, C.UNBIND):
        return Expected(
            pdu.response_class.command_id,
            frozenset({S.ESME_ROK}),
            closes=pdu.command_id == C.UNBIND,
        )
    answer = pdu.response_class or GenericNack
    return Expected(answer.command_id, frozenset({S.ESME_RINVBNDSTS, S.ESME_RALYBND}))
