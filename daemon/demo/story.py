"""The demo's story: who takes part and what each phone sends, in order.

Nothing here runs anything (daemon.demo.teller tells it). A step's text may hold one `{code}`: what
the phone must type back (a one-time PIN code, a voucher code, a YES code, a reference), read from
the latest SMS `code_from` received that matches `code_pattern`, as a person would read it.
"""

from __future__ import annotations

from dataclasses import dataclass

SHORT_CODE = "12345"


@dataclass(frozen=True, slots=True)
class Party:
    label: str  # the column of the balance table
    msisdn: str
    name: str = ""
    pin: str = ""  # the PIN they choose (agents: the one staff set)
    id_number: str = ""


AGENT = Party("Agent", "254712000100", "Mama Mboga Store", "9024")
ALICE = Party("Alice", "254712000001", "Alice Wanjiku", "5821", "12345678")
BOB = Party("Bob", "254712000002", "Bob Otieno", "7390", "23456789")
CAROL = Party("Carol", "254712000003")  # never registers: money reaches her as a voucher
PEOPLE = (AGENT, ALICE, BOB, CAROL)
CUSTOMERS = (ALICE, BOB)
AGENT_FLOAT_MINOR = 5_000_000  # the e-float staff issue to the store: KES 50,000.00
AGENT_NUMBER = "{agent_number}"  # filled in with the store's agent number once staff made it


@dataclass(frozen=True, slots=True)
class Step:
    title: str
    sender: Party
    text: str
    expect: str  # a regular expression the sender's first SMS back must match
    code_from: Party | None = None
    code_pattern: str = ""  # its group 1 is the code
    phone_off: bool = False  # the sender's phone is off when the reply comes (not delivered)
    note: str = ""  # said after what the phones received


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


STEPS: tuple[Step, ...] = (
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
