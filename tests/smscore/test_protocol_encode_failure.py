"""A queued PDU the codec refuses fails its own Deferred and does not stall the queue behind it."""

from twisted.internet.task import Clock
from twisted.test import iosim

from smscore.errors import PDUEncodeError
from smscore.esme import ESMEConfig, ESMEProtocol
from smscore.pdu import SubmitSm
from smscore.smsc import SMSCFactory


def test_unencodable_submit_fails_alone():
    clock = Clock()
    factory = SMSCFactory(
        clock, lambda bind, peer: 0, lambda proto, pdu: pdu.make_response(message_id="abc")
    )
    esme = ESMEProtocol(clock, ESMEConfig("esme", "pw"))
    server = factory.buildProtocol(None)
    pump = iosim.connect(
        server,
        iosim.FakeTransport(server, isServer=True),
        esme,
        iosim.FakeTransport(esme, isServer=False),
        greet=True,
    )
    pump.flush()
    results = []
    too_long = SubmitSm(source_addr="x" * 30, destination_addr="2")
    esme.submit(too_long).addErrback(lambda failure: results.append(failure.type))
    esme.submit(SubmitSm(source_addr="1", destination_addr="2")).addCallback(
        lambda response: results.append(response.message_id)
    )
    pump.flush()
    assert results == [PDUEncodeError, "abc"]
    assert esme.queued_count == 0 and esme.session.outstanding_count == 0
