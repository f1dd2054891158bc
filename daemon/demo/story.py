"""The demo's story: who takes part and what each phone sends, in order.

Nothing here runs anything (daemon.demo.teller tells it). A step is an SMS a phone sends, staff
typing `smscore admin` commands, or a USSD dialogue. Its text may hold one `{code}`: what the phone (or staff) must type
(a one-time PIN code, a voucher code, a YES code, a reference), read from the latest SMS `code_from`
received that matches `code_pattern`, as a person would read it.

The story has four chapters, each with the parties its balance table shows: the money story
(agents, SEND, vouchers, the rollback), payments (bills, a merchant till, a request to pay, airtime,
a reversal staff approve), USSD (a phone dials *334# and walks the shipped menu: a balance, then
money sent with the PIN), then a business on the API (staff register it and give it a key; its
server pays a salary over HTTP, sends it again, asks a customer to pay: daemon.demo.api_teller).
The step kinds are in daemon.demo.steps.
"""

from __future__ import annotations

import json

from daemon.demo.steps import (
    ApiCall,
    Chapter,
    IssueStep,
    Party,
    StaffStep,
    Step,
    UssdStep,
)

SHORT_CODE = "12345"


AGENT = Party("Agent", "254712000100", "Mama Mboga Store", "9024")
ALICE = Party("Alice", "254712000001", "Alice Wanjiku", "5821", "12345678")
BOB = Party("Bob", "254712000002", "Bob Otieno", "7390", "23456789")
CAROL = Party("Carol", "254712000003")  # never registers: money reaches her as a voucher
MERCHANT = Party("Shop", "254712000200", "Juma Hardware", "4826")  # staff register its till
BUSINESS = Party("Acme", "254712000300", "Acme Ltd", "1357")  # calls the business API
PEOPLE = (AGENT, ALICE, BOB, CAROL, MERCHANT, BUSINESS)
CUSTOMERS = (ALICE, BOB)
AGENT_FLOAT_MINOR = 5_000_000  # the e-float staff issue to the store: KES 50,000.00
AGENT_NUMBER = "{agent_number}"  # filled in with the store's agent number once staff made it


_REG_CODE = r"PIN (\d+) NEWPIN"
_REF = r"^([A-Z0-9]{10}) Confirmed"


def _register(who: Party) -> tuple[Step, Step]:
    first = who.name.split()[0]
    return (
        Step(
            f"The agent registers {first} (REG: phone, ID number, name, agent PIN)",
            AGENT,
            f"REG 0{who.msisdn[3:]} {who.id_number} {who.name} {AGENT.pin}",
            r"is registered",
        ),
        Step(
            f"{first} sets a PIN with the code the SMS gave",
            who,
            f"PIN {{code}} {who.pin}",
            r"PIN is set",
            code_from=who,
            code_pattern=_REG_CODE,
        ),
    )


MONEY_STEPS: tuple[Step, ...] = (
    *_register(ALICE),
    *_register(BOB),
    Step(
        "Alice pays KES 5,000 cash in at the agent (DEPOSIT)",
        AGENT,
        f"DEPOSIT 0712000001 5,000 {AGENT.pin}",
        r"Confirmed",
    ),
    Step("Alice checks her balance", ALICE, f"BAL {ALICE.pin}", r"balance is KES 5,000\.00"),
    Step(
        "Alice sends Bob KES 1,000; the tariff's fee is taken",
        ALICE,
        f"SEND 0712000002 1,000 {ALICE.pin}",
        r"Confirmed\. KES 1,000\.00 sent to BOB O\..*Fee",
    ),
    Step(
        "Bob checks that the SMS he got is genuine (VERIFY its reference)",
        BOB,
        "VERIFY {code}",
        r"is genuine",
        code_from=BOB,
        code_pattern=_REF,
    ),
    Step(
        "Alice sends the same again: the double-send guard asks first",
        ALICE,
        f"send +254712000002 1000 {ALICE.pin}",
        r"YES \d+",
    ),
    Step(
        "Alice means it and answers with the code",
        ALICE,
        "YES {code}",
        r"Confirmed",
        code_from=ALICE,
        code_pattern=r"reply YES (\d+)",
    ),
    Step(
        "Alice sends KES 500 to Carol, who has no account: Carol gets a code",
        ALICE,
        f"SEND 0712000003 500 {ALICE.pin}",
        r"not registered",
    ),
    Step(
        "Carol shows the code at the agent and takes the cash (COLLECT)",
        AGENT,
        f"COLLECT {{code}} 0712000003 {AGENT.pin}",
        r"Give KES",
        code_from=CAROL,
        code_pattern=r"with code (\d+)",
    ),
    Step(
        "Bob takes KES 300 cash out at the agent (WITHDRAW at its agent number)",
        BOB,
        f"WITHDRAW {AGENT_NUMBER} 300 {BOB.pin}",
        r"withdrawn",
    ),
    Step("Bob gets his PIN wrong", BOB, "BAL 7391", r"Wrong PIN"),
    Step(
        "Alice's phone is off when her SEND's confirmation comes: the SEND is rolled back",
        ALICE,
        f"SEND 0712000002 200 {ALICE.pin}",
        r"did not go through",
        phone_off=True,
        note="Bob hears nothing: the money was only held, never his, and is released.",
    ),
    Step("Alice looks at her last transactions (MINI)", ALICE, f"MINI {ALICE.pin}", r"Last \d"),
)

BILLER = "KPLC"
ALICE_BILL_ACCOUNT = "12345674"  # 1234567 and its Luhn check digit, as Kenya Power's rule wants
TILL_NUMBER = "555123"
_BILLS_CSV = (
    f"account,amount,name\n{ALICE_BILL_ACCOUNT},2500,Alice Wanjiku\n23456783,1800,Bob Otieno\n"
)
_REQUEST_CODE = r"Reply PAY (R\d+) PIN"

PAYMENT_STEPS: tuple[Step | StaffStep, ...] = (
    StaffStep(
        "Staff register a biller, Kenya Power, with its open bills, and a shop's till (Buy Goods)",
        (
            f'biller add {BILLER} --name "Kenya Power" --account-rule digits:8,luhn',
            f"biller bills import {BILLER} {{state_dir}}/kplc-bills.csv",
            f'till add {TILL_NUMBER} --phone 0{MERCHANT.msisdn[3:]} --name "{MERCHANT.name}" '
            f"--pin {MERCHANT.pin}",
        ),
        files=(("kplc-bills.csv", _BILLS_CSV),),
    ),
    Step(
        "Alice pays her electricity bill (PAY) but misses a digit of her account number",
        ALICE,
        f"PAY {BILLER} {ALICE_BILL_ACCOUNT[:-1]} 1,000 {ALICE.pin}",
        r"is not a KENYA POWER account: they are 8 digits\..*Nothing was paid",
    ),
    Step(
        "She types it right: KES 1,000 of her KES 2,500 bill is paid, the reply says what is left",
        ALICE,
        f"PAY {BILLER} {ALICE_BILL_ACCOUNT} 1,000 {ALICE.pin}",
        rf"Confirmed\. KES 1,000\.00 paid to KENYA POWER {ALICE_BILL_ACCOUNT}\..*"
        r"Due KES 1,500\.00",
        note="Kenya Power's KES 1,000 waits in its own settlement account until it is paid out.",
    ),
    Step(
        f"Bob pays KES 250 at {MERCHANT.name}'s till (TILL): the shop's phone is told",
        BOB,
        f"TILL {TILL_NUMBER} 250 {BOB.pin}",
        rf"Confirmed\. KES 250\.00 paid to JUMA HARDWARE till {TILL_NUMBER}",
        told=((MERCHANT, r"KES 250\.00 received from BOB O\."),),
    ),
    Step(
        "The shop asks Alice for KES 350 for an order (REQ): Alice's phone gets the request",
        MERCHANT,
        "REQ 0712000001 350 order 42",
        r"Asked ALICE W\. .* for KES 350\.00, request R\d+",
        told=((ALICE, r"asks you for KES 350\.00 \(order 42\)\. Reply PAY R\d+ PIN"),),
    ),
    Step(
        "Alice pays it with the request code from her SMS (PAY <code> <PIN>)",
        ALICE,
        f"PAY {{code}} {ALICE.pin}",
        r"Confirmed\. KES 350\.00 paid to JUMA HARDWARE",
        code_from=ALICE,
        code_pattern=_REQUEST_CODE,
        told=((MERCHANT, r"KES 350\.00 from ALICE W\. .* for R\d+"),),
    ),
    Step(
        "Alice buys Bob KES 100 of airtime (BUY): the airtime provider confirms, both are told",
        ALICE,
        f"BUY 100 0712000002 {ALICE.pin}",
        r"Buying KES 100\.00 airtime for",
        told=(
            (ALICE, r"Confirmed\. KES 100\.00 airtime bought for"),
            (BOB, r"bought you KES 100\.00 airtime"),
        ),
    ),
    Step(
        "Bob sends Alice KES 400 by mistake: he meant another number",
        BOB,
        f"SEND 0712000001 400 {BOB.pin}",
        r"Confirmed\. KES 400\.00 sent to ALICE W\.",
        told=((ALICE, r"You have received KES 400\.00 from BOB O\."),),
    ),
    Step(
        "Bob asks for it back with the reference of his SMS (REVERSE): it is held from Alice",
        BOB,
        "REVERSE {code}",
        r"Reversal of [A-Z0-9]{10} asked\. KES 400\.00 is held from ALICE W\.",
        code_from=BOB,
        code_pattern=_REF,
        told=((ALICE, r"says the KES 400\.00 sent to you was a mistake\. It is held"),),
    ),
    StaffStep(
        "Staff look into it and approve the reversal: Bob has his KES 400 back, both are told",
        ('reversals approve {code} --note "sent to the wrong number"',),
        told=(
            (BOB, r"Confirmed\. Reversal of [A-Z0-9]{10}: KES 400\.00 is back in your wallet"),
            (ALICE, r"KES 400\.00 held from you .* was given back to BOB O\."),
        ),
        code_from=BOB,
        code_pattern=r"Reversal of ([A-Z0-9]{10}) asked",
    ),
    Step("Bob looks at his last transactions (MINI)", BOB, f"MINI {BOB.pin}", r"Last \d.*\+400 "),
)

USSD_CODE = "*334#"  # the shipped menu's (daemon/ussd/default_menu.toml)

USSD_STEPS: tuple[UssdStep, ...] = (
    UssdStep(
        f"Bob dials {USSD_CODE} and picks My balance (6), then types his PIN",
        BOB,
        USSD_CODE,
        ("6", BOB.pin),
        r"balance is KES [\d,]+\.\d\d",
    ),
    UssdStep(
        "Bob sends Alice KES 200 from the menu: Send money (1), her number, the amount, his PIN",
        BOB,
        USSD_CODE,
        ("1", "0712000001", "200", BOB.pin),
        r"Confirmed\. KES 200\.00 sent to ALICE W\.",
        told=(
            (ALICE, r"You have received KES 200\.00 from BOB O\."),
            (BOB, r"Confirmed\. KES 200\.00 sent to ALICE W\..* Sig K"),
        ),
    ),
)

BUSINESS_CODE = "ACME"
BUSINESS_TILL = "555300"  # a merchantpay is paid to the business's till
BUSINESS_FUNDS_MINOR = 10_000_000  # KES 100,000.00, paid into the trust account's bank
SALARY_ID = "acme-payroll-2026-12-bob"  # X-CorrelationID: the payroll run's own id for the payment
_SALARY = {
    "amount": "15000.00",
    "currency": "KES",
    "creditParty": [{"key": "msisdn", "value": f"+{BOB.msisdn}"}],
    "descriptionText": "December salary",
}
_ORDER = {
    "amount": "450.00",
    "currency": "KES",
    "debitParty": [{"key": "msisdn", "value": f"+{ALICE.msisdn}"}],
    "descriptionText": "order 77",
}


def _json(body: dict) -> str:
    return json.dumps(body, separators=(",", ":"))


API_STEPS: tuple[StaffStep | IssueStep | ApiCall | Step, ...] = (
    StaffStep(
        f"Staff register {BUSINESS.name} for the business API: its till (a merchantpay lands "
        "there), the business, an API key and the callback secret for its developers",
        (
            f'till add {BUSINESS_TILL} --phone 0{BUSINESS.msisdn[3:]} --name "{BUSINESS.name}" '
            f"--pin {BUSINESS.pin}",
            f'business add {BUSINESS_CODE} --name "{BUSINESS.name}" --msisdn 0{BUSINESS.msisdn[3:]}',
            f"business key-add {BUSINESS_CODE} --label payroll",
            f"business secret {BUSINESS_CODE}",
        ),
    ),
    IssueStep(
        f"{BUSINESS.name} pays KES 100,000 into the trust account's bank: staff issue it as e-money "
        "into its wallet",
        BUSINESS,
        BUSINESS_FUNDS_MINOR,
    ),
    ApiCall(
        f"{BUSINESS.name}'s payroll pays Bob's salary (POST /transactions/type/disbursement with "
        "X-CorrelationID and X-Callback-URL): accepted, done by the API worker, Bob told, the "
        "signed callback received",
        BUSINESS,
        "POST",
        "/transactions/type/disbursement",
        202,
        r'"status":"pending"',
        body=_json(_SALARY),
        correlation_id=SALARY_ID,
        callback=True,
        keep="salary",
        until=r'"status":"completed"',
        told=((BOB, r"You have received KES 15,000\.00 from ACME LTD"),),
    ),
    ApiCall(
        "Its server never got that answer and sends the same request again: the same "
        "X-CorrelationID and body bring back the same request, completed; nothing is paid twice",
        BUSINESS,
        "POST",
        "/transactions/type/disbursement",
        202,
        r'"status":"completed".*"objectReference":"[A-Z0-9]{10}"',
        body=_json(_SALARY),
        correlation_id=SALARY_ID,
        callback=True,
        same_as="salary",
    ),
    ApiCall(
        "The same X-CorrelationID with another amount is refused: duplicateRequest",
        BUSINESS,
        "POST",
        "/transactions/type/disbursement",
        400,
        r'"errorCategory":"businessRule","errorCode":"duplicateRequest"',
        body=_json({**_SALARY, "amount": "16000.00"}),
        correlation_id=SALARY_ID,
    ),
    ApiCall(
        f"Alice orders online; {BUSINESS.name}'s shop asks her to pay KES 450 (merchantpay with "
        'Alice as debitParty, the "STK push"): her phone asks for her PIN',
        BUSINESS,
        "POST",
        "/transactions/type/merchantpay",
        202,
        r'"status":"pending"',
        body=_json(_ORDER),
        correlation_id="acme-order-77",
        keep="order",
        until=r'"pendingReason":"waiting for the customer',
        told=((ALICE, r"ACME LTD .* asks you for KES 450\.00\. Reply PAY R\d+ PIN"),),
    ),
    Step(
        "Alice approves it with the code from her SMS and her PIN (PAY <code> <PIN>)",
        ALICE,
        f"PAY {{code}} {ALICE.pin}",
        rf"Confirmed\. KES 450\.00 paid to ACME LTD till {BUSINESS_TILL}",
        code_from=ALICE,
        code_pattern=_REQUEST_CODE,
        told=((BUSINESS, r"KES 450\.00 from ALICE W\."),),
    ),
    ApiCall(
        "The shop's server polls the request state (GET /requeststates/{id}): completed",
        BUSINESS,
        "GET",
        "/requeststates/{order}",
        200,
        r'"status":"completed".*"objectReference":"[A-Z0-9]{10}"',
    ),
    ApiCall(
        f"{BUSINESS.name} reads its balance over the API: what the books below say",
        BUSINESS,
        "GET",
        f"/accounts/msisdn/{BUSINESS.msisdn}/balance",
        200,
        r'"availableBalance":"[\d.]+"',
    ),
)

CHAPTERS = (
    Chapter(
        "Staff open the agent store with KES 50,000.00 of e-float from the trust account",
        (AGENT, ALICE, BOB, CAROL),
        (),
        ("Fees", "Commission", "Vouchers"),
        MONEY_STEPS,
    ),
    Chapter(
        "Payments: bills, a shop's till, a request to pay, airtime, and a payment asked back",
        (ALICE, BOB, MERCHANT),
        (BILLER,),
        ("Airtime", "Fees"),
        PAYMENT_STEPS,
    ),
    Chapter(
        f"USSD: no command to remember. Bob dials {USSD_CODE} and walks the menu; the money "
        "moves only once the last screen reached his phone",
        (ALICE, BOB),
        (),
        ("Fees",),
        USSD_STEPS,
    ),
    Chapter(
        f"A business on the API: {BUSINESS.name} pays salaries and takes payments from its own "
        "server over HTTP (the business API: the GSMA Mobile Money API's names and flows)",
        (ALICE, BOB, BUSINESS),
        (),
        ("Fees",),
        API_STEPS,
    ),
)
STEPS = tuple(step for chapter in CHAPTERS for step in chapter.steps)
