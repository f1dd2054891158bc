"""Secrets show nowhere: money commands with known PINs through the real daemon and simulator, then
every log line, every SMS stored (inbox and outbox), the status JSON and `smscore status` are
searched for the PINs, the PIN pepper, the receipt keys and the bind password. The confirmations
carry a receipt tag that `smscore receipt verify` accepts."""

import json
import re

from click.testing import CliRunner
from sqlalchemy import select

from daemon.receipt_cli import receipt
from daemon.schema import inbox, mo_parts, outbox
from daemon.security.receipt_keys import load_keyring
from daemon.security.signing import key_directory
from daemon.subscribers import pepper_path, read_pepper
from tests.e2e.harness import PASSWORD, smscore_status
from tests.e2e.money import START, national, ref_in

PINS = ("8264", "5139")  # distinctive: no amount, time or number in these tests has them


def _secrets(money) -> list[str]:
    config = money.config
    pepper = read_pepper(pepper_path(config))
    found = [*PINS, PASSWORD, pepper.hex()]
    for path in key_directory(config).glob("K*.key"):
        found.append(json.loads(path.read_text())["seed"])
    for key in load_keyring(key_directory(config)).keys.values():
        found.append(key.mac_key.hex())
    return found


def _stored_texts(money) -> list[str]:
    with money.engine.connect() as conn:
        texts = [row.text or "" for row in conn.execute(select(inbox.c.text))]
        texts += [row.text for row in conn.execute(select(outbox.c.text))]
        texts += [repr(row.body) for row in conn.execute(select(mo_parts.c.body))]
    return texts


def _verify(money, sent: str, payer: str, payee: str) -> None:
    when = re.search(r" on (\d+/\d+/\d+ \d+:\d+)\.", sent)[1]
    tag = sent.rsplit(" Sig ", 1)[1]
    args = ["verify", "--ref", ref_in(sent), "--amount", "500", "--payer", payer, "--payee", payee,
            "--time", when, "--tag", tag, "--state-dir", str(money.config.service.state_dir)]  # fmt: skip
    result = CliRunner().invoke(receipt, args)
    assert (result.exit_code, result.output) == (0, f"{ref_in(sent)}: genuine\n"), result.output
    forged = CliRunner().invoke(receipt, [*args[:4], "5000", *args[5:]])
    assert forged.exit_code == 1


def test_no_pin_pepper_key_or_password_shows_anywhere(money) -> None:
    alice = money.customer(START, name="Alice Atieno", pin=PINS[0])
    bob = money.customer(name="Bob Otieno", pin=PINS[1])
    sent = alice.send(f"SEND {national(bob.msisdn)} 500 {PINS[0]}")
    assert re.search(r" Sig K[0-9]+-[A-Z2-7]{6,8}$", sent), sent
    assert " Sig K" in bob.next("the recipient's notice")
    wrong = bob.send(f"SEND {national(alice.msisdn)} 100 {PINS[0]}")  # Alice's PIN, on Bob's phone
    assert "Sig" not in wrong
    bob.send(f"BAL {PINS[1]}")
    bob.send(f"BAL {PINS[1]} " + "please " * 30)  # a long MO: several parts, assembled
    _verify(money, sent, alice.msisdn, bob.msisdn)
    money.quiet()
    shown = json.dumps(money.daemon.status()) + smscore_status(money.daemon.status_url)
    places = {"log": "\n".join(money.daemon_log()), "status": shown,
              "stored": "\n".join(_stored_texts(money))}  # fmt: skip
    for secret in _secrets(money):
        for where, text in places.items():
            assert secret not in text, f"a secret ({len(secret)} chars) is in the {where}"
