"""Delivery receipts: parsing, id normalisation, every stat word, matching and rolling up (both DBs)."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event, insert, select, update

import ledger
from daemon.db import InlineDatabase
from daemon.migrate import upgrade_all
from daemon.outbox import OutboxStatus, OutgoingSms, queue_sms_txn
from daemon.receipts import (
    STAT_OUTCOMES,
    MalformedReceipt,
    ReceiptOutcome,
    apply_early_receipts_txn,
    apply_receipts_txn,
    is_receipt,
    make_receipt,
    message_keys,
    parse_receipt_text,
    receipt_from_pdu,
)
from daemon.schema import early_receipts, outbox, outbox_parts
from smscore.codec import decode
from smscore.constants import EsmClass, MessageState
from smscore.pdu import DataSm, DeliverSm, SubmitSm
from smscore.tlv import NetworkErrorCode
from tests.interop import INTEROP_PATH

INTEROP = INTEROP_PATH
RECORDS = [json.loads(line) for line in INTEROP.read_text().splitlines()]
NOW = 1_700_000_000 * 1_000_000_000


def interop(scenario, command):
    return [
        decode(bytes.fromhex(record["hex"]))
        for record in RECORDS
        if record["scenario"] == scenario and record["command"] == command
    ]


@pytest.fixture
def db(db_url):
    engine = ledger.make_engine(db_url)
    with engine.begin() as conn:
        upgrade_all(conn)
    database = InlineDatabase(engine)
    yield database
    database.stop()


def submitted_sms(conn, message_ids, bind_name="smsc1"):
    """An outbox row already submitted, one part per message id; returns its id."""
    queue_sms_txn(conn, [OutgoingSms("254712000001", "hello", "12345")], NOW)
    outbox_id = conn.execute(select(outbox.c.id).order_by(outbox.c.id.desc())).scalar()
    conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id)
        .values(status=OutboxStatus.SUBMITTED, parts_total=len(message_ids))
    )
    rows = []
    for part_no, message_id in enumerate(message_ids, 1):
        key, alt = message_keys(message_id)
        rows.append(
            {
                "outbox_id": outbox_id,
                "part_no": part_no,
                "bind_name": bind_name,
                "message_id": message_id,
                "message_key": key,
                "message_key_alt": alt,
                "status": "submitted",
                "submitted_at_ns": NOW,
            }
        )
    conn.execute(insert(outbox_parts), rows)
    return outbox_id


def row_status(conn, outbox_id):
    return conn.execute(
        select(outbox.c.status, outbox.c.last_error).where(outbox.c.id == outbox_id)
    ).one()


def part_states(conn, outbox_id):
    query = (
        select(outbox_parts.c.status, outbox_parts.c.receipt_stat, outbox_parts.c.receipt_err)
        .where(outbox_parts.c.outbox_id == outbox_id)
        .order_by(outbox_parts.c.part_no)
    )
    return [tuple(row) for row in conn.execute(query)]


def apply(db, receipts, now_ns=NOW):
    return db.run_sync("test", apply_receipts_txn, receipts, now_ns)


def dlr(message_id, stat="DELIVRD", err="000", bind="smsc1"):
    return make_receipt(bind, message_id, stat, err)


# --- parsing -------------------------------------------------------------------------------------


def test_parses_the_de_facto_format():
    text = (
        "id:0297E26001 sub:001 dlvrd:001 submit date:2611231336 done date:2611231337 "
        "stat:DELIVRD err:000 text:Kannel MT ?ref? ? 1/"
    )
    assert parse_receipt_text(text) == {
        "id": "0297E26001",
        "sub": "001",
        "dlvrd": "001",
        "submitdate": "2611231336",
        "donedate": "2611231337",
        "stat": "DELIVRD",
        "err": "000",
        "text": "Kannel MT ?ref? ? 1/",
    }


def test_parsing_tolerates_case_spacing_order_and_missing_fields():
    fields = parse_receipt_text("ID : abc123   Stat:undeliv  ERR:  12  Submit   Date:2611231336")
    assert fields == {"id": "abc123", "stat": "undeliv", "err": "12", "submitdate": "2611231336"}
    assert parse_receipt_text("no receipt here") == {}


def test_text_field_may_contain_anything_after_it():
    fields = parse_receipt_text("id:1 stat:DELIVRD err:000 text:stat:UNDELIV id:999")
    assert fields["stat"] == "DELIVRD"
    assert fields["id"] == "1"
    assert fields["text"] == "stat:UNDELIV id:999"


def test_interop_receipts_are_recognised_and_parsed():
    receipts = interop("mt-gsm-dlr", "deliver_sm") + interop("kannel", "deliver_sm")
    found = [receipt_from_pdu(pdu, "smsc1") for pdu in receipts if is_receipt(pdu)]
    assert [(r.message_id, r.stat, r.err) for r in found] == [
        ("047D0AC001", "DELIVRD", "000"),
        ("047D0AC002", "DELIVRD", "000"),
        ("0297E26001", "DELIVRD", "000"),
        ("0297E26002", "DELIVRD", "000"),
        ("0297E26003", "DELIVRD", "000"),
    ]
    assert all(r.outcome is ReceiptOutcome.DELIVERED for r in found)


def test_interop_mos_are_not_receipts():
    mos = [pdu for pdu in interop("kannel", "deliver_sm") if pdu.esm_class & 0x3C == 0]
    assert len(mos) == 8  # seven texts, the long one in two parts
    assert not any(is_receipt(pdu) for pdu in mos)
    assert not is_receipt(SubmitSm(esm_class=EsmClass.TYPE_DELIVERY_RECEIPT))


def test_intermediate_notification_and_data_sm_receipts():
    note = DeliverSm(
        esm_class=EsmClass.TYPE_INTERMEDIATE_NOTIFICATION,
        short_message=b"id:77 stat:ENROUTE err:000",
    )
    assert is_receipt(note)
    assert receipt_from_pdu(note, "b").outcome is ReceiptOutcome.INTERMEDIATE
    data = DataSm(
        esm_class=EsmClass.TYPE_DELIVERY_RECEIPT,
        tlvs={"receipted_message_id": "AB12", "message_state": int(MessageState.EXPIRED)},
    )
    assert is_receipt(data)
    assert receipt_from_pdu(data, "b").stat == "EXPIRED"


def test_tlvs_win_over_the_text():
    pdu = DeliverSm(
        esm_class=EsmClass.TYPE_DELIVERY_RECEIPT,
        short_message=b"id:111 stat:DELIVRD err:000",
        tlvs={"receipted_message_id": "222", "message_state": int(MessageState.REJECTED)},
    )
    receipt = receipt_from_pdu(pdu, "smsc1")
    assert (receipt.message_id, receipt.stat, receipt.outcome) == (
        "222",
        "REJECTD",
        ReceiptOutcome.FAILED,
    )


def test_receipted_message_id_without_nul_comes_as_bytes():
    pdu = DeliverSm(
        esm_class=EsmClass.TYPE_DELIVERY_RECEIPT,
        tlvs={"receipted_message_id": b"0A1B", "message_state": 2},
    )
    receipt = receipt_from_pdu(pdu, "smsc1")
    assert receipt.message_id == "0A1B"
    assert receipt.key == str(0x0A1B)


def test_receipt_with_a_bad_message_state_falls_back_to_the_text():
    pdu = DeliverSm(
        esm_class=EsmClass.TYPE_DELIVERY_RECEIPT,
        short_message=b"id:5 stat:UNDELIV",
        tlvs={"message_state": 0, "network_error_code": NetworkErrorCode(3, 34)},
    )
    receipt = receipt_from_pdu(pdu, "smsc1")
    assert (receipt.stat, receipt.err) == ("UNDELIV", "034")


def test_esm_class_zero_with_receipt_tlvs_is_a_receipt():
    pdu = DeliverSm(tlvs={"receipted_message_id": "9", "message_state": 2})
    assert is_receipt(pdu)


def test_receipt_without_any_id_is_refused_with_a_typed_error():
    pdu = DeliverSm(esm_class=EsmClass.TYPE_DELIVERY_RECEIPT, short_message=b"stat:DELIVRD")
    with pytest.raises(MalformedReceipt, match="no message id"):
        receipt_from_pdu(pdu, "smsc1")


# --- stat words ---------------------------------------------------------------------------------

SUBMITTED, DELIVERED, FAILED = "submitted", "delivered", "failed"
# What a receipt with each stat word does to a one-part outbox row: (row status, part status).
STAT_EFFECTS = {
    "DELIVRD": (OutboxStatus.DELIVERED, DELIVERED),
    "EXPIRED": (OutboxStatus.FAILED, FAILED),
    "DELETED": (OutboxStatus.FAILED, FAILED),
    "UNDELIV": (OutboxStatus.FAILED, FAILED),
    "REJECTD": (OutboxStatus.FAILED, FAILED),
    # Not final: the row stays submitted (its money hook still fires at deliver_by).
    "ACCEPTD": (OutboxStatus.SUBMITTED, SUBMITTED),
    "ENROUTE": (OutboxStatus.SUBMITTED, SUBMITTED),
    "UNKNOWN": (OutboxStatus.SUBMITTED, SUBMITTED),
    "BUFFRED": (OutboxStatus.SUBMITTED, SUBMITTED),
}


@pytest.mark.parametrize("stat", sorted(STAT_EFFECTS))
def test_each_stat_word_moves_the_outbox_row(db, stat):
    with db.engine.begin() as conn:
        outbox_id = submitted_sms(conn, ["5A1"])
    result = apply(db, [dlr("5a1", stat.lower(), err="011")])  # any case, as SMSCs write it
    row_wanted, part_wanted = STAT_EFFECTS[stat]
    assert (result.applied, result.ignored, result.kept_early) == (1, 0, 0)
    with db.engine.begin() as conn:
        error = f"stat:{stat} err:011" if row_wanted is OutboxStatus.FAILED else None
        assert tuple(row_status(conn, outbox_id)) == (row_wanted, error)
        assert part_states(conn, outbox_id) == [(part_wanted, stat, "011")]


def test_the_stat_words_are_the_ones_smscs_send():
    """Every word SMPP 3.4 (appendix B) and the message_state TLV define, and nothing else."""
    assert set(STAT_EFFECTS) == set(STAT_OUTCOMES)
    assert {state.stat for state in MessageState} <= set(STAT_EFFECTS)


@pytest.mark.parametrize("state", list(MessageState))
def test_every_message_state_is_mapped(state):
    pdu = DeliverSm(
        esm_class=EsmClass.TYPE_DELIVERY_RECEIPT,
        tlvs={"receipted_message_id": "1", "message_state": int(state)},
    )
    outcome = receipt_from_pdu(pdu, "b").outcome
    assert outcome is not None
    assert (outcome is ReceiptOutcome.INTERMEDIATE) == (not state.is_final)


def test_long_spellings_are_understood():
    assert dlr("1", "Delivered").stat == "DELIVRD"
    assert dlr("1", "UNDELIVERABLE").outcome is ReceiptOutcome.FAILED


# --- message ids --------------------------------------------------------------------------------


def test_keys_ignore_case_and_leading_zeros():
    assert message_keys("0297E26001") == message_keys("297e26001")
    assert message_keys("0297E26001")[0] == str(0x0297E26001)
    assert message_keys("00123") == (str(0x123), "123")
    assert message_keys("Msg-ABC") == ("msg-abc", None)


def test_long_ids_are_compared_as_text():
    uuid = "6F9619FF-8B86-D011-B42D-00CF4FC964FF"
    assert message_keys(uuid) == (uuid.lower(), None)
    long_hex = "A" * 40
    assert message_keys(long_hex) == (long_hex.lower(), None)


def test_interop_decimal_receipts_match_the_hex_message_ids():
    resp_ids = [pdu.message_id for pdu in interop("mt-ucs2-long-dlr-dec", "submit_sm_resp")]
    receipts = [
        receipt_from_pdu(pdu, "smsc1") for pdu in interop("mt-ucs2-long-dlr-dec", "deliver_sm")
    ]
    assert resp_ids == ["0198813001", "0198813002"]
    assert [r.message_id for r in receipts] == ["6853570561", "6853570562"]
    assert [message_keys(i)[0] for i in resp_ids] == [r.key_alt for r in receipts]


@given(
    value=st.integers(min_value=0, max_value=2**64 - 1),
    zeros=st.integers(min_value=0, max_value=3),
    upper=st.booleans(),
)
def test_receipt_in_decimal_or_hex_reaches_the_same_key(value, zeros, upper):
    resp_id = "0" * zeros + (f"{value:X}" if upper else f"{value:x}")
    part_key, _ = message_keys(resp_id)
    hex_receipt = dlr("0" * zeros + f"{value:x}")
    decimal_receipt = dlr(str(value))
    assert hex_receipt.key == part_key
    assert decimal_receipt.key_alt == part_key


# --- applying to the database --------------------------------------------------------------------


def test_delivered_receipt_delivers_a_single_part_row(db):
    outbox_id = db.run_sync("setup", submitted_sms, ["047D0AC001"])
    receipt = receipt_from_pdu(interop("mt-gsm-dlr", "deliver_sm")[0], "smsc1")
    result = apply(db, [receipt])
    assert (result.applied, result.kept_early) == (1, 0)
    with db.engine.begin() as conn:
        assert row_status(conn, outbox_id) == ("delivered", None)
        assert part_states(conn, outbox_id) == [("delivered", "DELIVRD", "000")]


def test_multi_part_row_is_delivered_only_when_every_part_is(db):
    outbox_id = db.run_sync("setup", submitted_sms, ["A1", "A2", "A3"])
    apply(db, [dlr("A1"), dlr("A3")])
    with db.engine.begin() as conn:
        assert row_status(conn, outbox_id).status == "submitted"
    apply(db, [dlr("a2")])
    with db.engine.begin() as conn:
        assert row_status(conn, outbox_id).status == "delivered"


def test_one_failed_part_fails_the_row_with_its_stat_and_err(db):
    outbox_id = db.run_sync("setup", submitted_sms, ["B1", "B2"])
    apply(db, [dlr("B1"), dlr("B2", "UNDELIV", "001")])
    with db.engine.begin() as conn:
        assert row_status(conn, outbox_id) == ("failed", "stat:UNDELIV err:001")
        assert part_states(conn, outbox_id) == [
            ("delivered", "DELIVRD", "000"),
            ("failed", "UNDELIV", "001"),
        ]


def test_interop_decimal_receipts_fail_the_hex_parts(db):
    resp_ids = [pdu.message_id for pdu in interop("mt-ucs2-long-dlr-dec", "submit_sm_resp")]
    outbox_id = db.run_sync("setup", submitted_sms, resp_ids)
    receipts = [
        receipt_from_pdu(pdu, "smsc1") for pdu in interop("mt-ucs2-long-dlr-dec", "deliver_sm")
    ]
    result = apply(db, receipts)
    assert (result.applied, result.kept_early) == (2, 0)
    with db.engine.begin() as conn:
        assert row_status(conn, outbox_id) == ("failed", "stat:UNDELIV err:001")


def test_hex_receipt_matches_a_decimal_message_id(db):
    # The SMSC answered in decimal and reports in hex (Kannel's msg-id-type 2).
    outbox_id = db.run_sync("setup", submitted_sms, ["4660"])
    apply(db, [dlr("1234")])  # 0x1234 == 4660
    with db.engine.begin() as conn:
        assert row_status(conn, outbox_id).status == "delivered"


def test_exact_id_wins_over_a_numeric_coincidence(db):
    # "10" read as hex is 16; a receipt "16" is the exact id of the other row, not 16 in decimal.
    hex_ten = db.run_sync("setup", submitted_sms, ["10"])
    sixteen = db.run_sync("setup", submitted_sms, ["16"])
    apply(db, [dlr("16")])
    with db.engine.begin() as conn:
        assert row_status(conn, sixteen).status == "delivered"
        assert row_status(conn, hex_ten).status == "submitted"


def test_duplicate_receipt_changes_nothing(db):
    db.run_sync("setup", submitted_sms, ["C1"])
    apply(db, [dlr("C1", "UNDELIV", "001")], NOW)
    with db.engine.begin() as conn:
        before = conn.execute(select(outbox, outbox_parts).join(outbox_parts)).all()
    again = apply(db, [dlr("C1", "UNDELIV", "001"), dlr("C1", "DELIVRD")], NOW + 10**9)
    assert (again.applied, again.unchanged, again.kept_early) == (0, 2, 0)
    with db.engine.begin() as conn:
        assert conn.execute(select(outbox, outbox_parts).join(outbox_parts)).all() == before


def test_intermediate_receipt_is_stored_but_not_final(db):
    outbox_id = db.run_sync("setup", submitted_sms, ["D1"])
    assert apply(db, [dlr("D1", "ENROUTE")]).applied == 1
    assert apply(db, [dlr("D1", "ENROUTE")]).unchanged == 1
    with db.engine.begin() as conn:
        assert row_status(conn, outbox_id).status == "submitted"
        assert part_states(conn, outbox_id) == [("submitted", "ENROUTE", "000")]
    apply(db, [dlr("D1")])
    apply(db, [dlr("D1", "ACCEPTD")])  # a late intermediate never undoes a final state
    with db.engine.begin() as conn:
        assert row_status(conn, outbox_id).status == "delivered"
        assert part_states(conn, outbox_id) == [("delivered", "DELIVRD", "000")]


def test_unknown_stat_word_changes_nothing(db):
    outbox_id = db.run_sync("setup", submitted_sms, ["E1"])
    result = apply(db, [dlr("E1", "WHATEVR")])
    assert (result.ignored, result.applied, result.kept_early) == (1, 0, 0)
    with db.engine.begin() as conn:
        assert part_states(conn, outbox_id) == [("submitted", None, None)]
        assert conn.execute(select(early_receipts)).all() == []


def test_unmatched_receipt_is_kept_and_applied_when_the_part_is_recorded(db):
    result = apply(db, [dlr("6853570561", "UNDELIV", "001")])  # decimal, before the resp
    assert result.kept_early == 1
    outbox_id = db.run_sync("setup", submitted_sms, ["0198813001"])

    def record_and_apply(conn):
        return apply_early_receipts_txn(conn, [message_keys("0198813001")], NOW)

    assert db.run_sync("early", record_and_apply) == {outbox_id}
    with db.engine.begin() as conn:
        assert part_states(conn, outbox_id) == [("failed", "UNDELIV", "001")]
        assert conn.execute(select(early_receipts)).all() == []


def test_early_receipt_that_still_matches_nothing_stays(db):
    apply(db, [dlr("F1")])
    db.run_sync("setup", submitted_sms, ["F2"])
    assert db.run_sync("early", apply_early_receipts_txn, [message_keys("F2")], NOW) == set()
    with db.engine.begin() as conn:
        assert len(conn.execute(select(early_receipts)).all()) == 1


def test_a_batch_costs_a_fixed_number_of_statements(db):
    ids = [f"{n:08X}" for n in range(300)]
    outbox_ids = [db.run_sync("setup", submitted_sms, ids[n : n + 3]) for n in range(0, 300, 3)]
    statements = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    result = apply(db, [dlr(i) for i in ids] + [dlr("FFFFFFFFF", "DELIVRD")])
    assert (result.applied, result.kept_early) == (300, 1)
    assert len([s for s in statements if not s.startswith(("BEGIN", "COMMIT"))]) <= 6
    with db.engine.begin() as conn:
        statuses = conn.execute(select(outbox.c.status).where(outbox.c.id.in_(outbox_ids)))
        assert {status for (status,) in statuses} == {"delivered"}
