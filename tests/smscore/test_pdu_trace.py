"""smscore.pdu_trace: the debug hex of a message PDU never holds its text (a PIN, a one-time
code), in short_message or message_payload, in any PDU that carries one; lengths are kept."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.logger import formatEvent, globalLogPublisher

from smscore import pdu_trace
from smscore.codec import decode
from smscore.pdu import DataSm, DeliverSm, DestAddress, ReplaceSm, SubmitMulti, SubmitSm
from tests.smscore.test_protocol import Pair, outcome

MESSAGE_TYPES = (SubmitSm, DeliverSm, DataSm, ReplaceSm, SubmitMulti)
# Letters only in the addresses: a digit run found in a dump can only have come from the text.
ADDRESSES = {"source_addr": "BANK"}


def message(pdu_type, octets: bytes, *, payload: bool):
    pdu = pdu_type(**ADDRESSES)
    if pdu_type is SubmitMulti:
        pdu.dest_addresses = [DestAddress(ton=5, npi=0, addr="SHOP")]
    elif "destination_addr" in pdu.field_names:
        pdu.destination_addr = "SHOP"
    if payload or "short_message" not in pdu.field_names:  # data_sm: a payload only
        pdu.tlvs = {"message_payload": octets}
    else:
        pdu.short_message = octets
    return pdu


def test_a_deliver_sm_with_a_pin_is_dumped_with_stars_of_the_same_length():
    dump = pdu_trace.pdu_hex(DeliverSm(short_message=b"BAL 4821"))
    assert b"4821".hex() not in dump and b"BAL".hex() not in dump
    assert dump.endswith("08" + "2a" * 8)  # sm_length 8, then eight `*`


def test_the_message_payload_tlv_is_masked_and_the_pdu_itself_is_left_alone():
    pdu = DataSm(source_addr="BANK", tlvs={"message_payload": b"CODE 551902"})
    masked = decode(bytes.fromhex(pdu_trace.pdu_hex(pdu)))
    assert masked.tlvs["message_payload"] == b"*" * 11
    assert pdu.tlvs["message_payload"] == b"CODE 551902"  # the one being sent is untouched


def test_a_pdu_without_text_is_dumped_as_it_is():
    pdu = SubmitSm(source_addr="100", destination_addr="254700000001")
    assert pdu_trace.pdu_hex(pdu) == pdu.encode_pdu().hex()


words = st.sampled_from(["BAL", "SEND", "PIN", "CODE", "YES", "0712", "x", ""])
digit_runs = st.text(alphabet="0123456789", min_size=4, max_size=8)


def encodings(run: str) -> list[bytes]:
    return [run.encode("ascii"), run.encode("utf-16-be")]


def assert_no_run_in(line: str, dump: str, runs: list[str]) -> None:
    octets = bytes.fromhex(dump)
    for run in runs:
        for form in encodings(run):
            assert form not in octets and form.hex() not in line, (run, line)
        assert run not in line.replace(dump, ""), (run, line)


@settings(max_examples=80, deadline=None)
@given(
    pdu_type=st.sampled_from(MESSAGE_TYPES),
    before=st.lists(words, max_size=3),
    pin=digit_runs,
    after=st.lists(words | digit_runs, max_size=3),
    ucs2=st.booleans(),
    payload=st.booleans(),
)
def test_no_digit_run_of_the_text_is_in_the_dump(pdu_type, before, pin, after, ucs2, payload):
    text = " ".join([*before, pin, *after])
    octets = text.encode("utf-16-be" if ucs2 else "ascii")
    dump = pdu_trace.pdu_hex(message(pdu_type, octets, payload=payload))
    assert not dump.startswith("<"), dump
    runs = re.findall(r"[0-9]{4,}", text)
    assert_no_run_in(dump, dump, runs)


@settings(max_examples=25, deadline=None)
@given(pin=digit_runs, after=st.lists(words, max_size=2))
def test_no_line_the_protocol_logs_holds_the_pin(pin, after):
    lines: list[tuple[str, str]] = []

    def observe(event):
        if "hex" in event:
            lines.append((formatEvent(event), event["hex"]))

    pdu_trace.enable(True)
    globalLogPublisher.addObserver(observe)
    try:
        pair = Pair()
        text = " ".join(["BAL", pin, *after])
        sms = SubmitSm(source_addr="BANK", destination_addr="SHOP", short_message=text.encode())
        outcome(pair.esme.submit(sms))
        pair.link.pump()
    finally:
        globalLogPublisher.removeObserver(observe)
        pdu_trace.enable(False)
    commands = {line.split(" #")[0] for line, _ in lines}
    assert {"out submit_sm", "in submit_sm"} <= commands  # the ESME's send and the SMSC's receipt
    for line, dump in lines:
        assert_no_run_in(line, dump, [pin])
