"""The kinds of step the demo's story is made of (daemon.demo.story has the story itself): who takes
part, an SMS a phone sends, staff at the terminal, a USSD dialogue, e-money staff issue, a call a
business's server makes to the business API, and the chapters they are grouped in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Party:
    label: str  # the column of the balance table
    msisdn: str
    name: str = ""
    pin: str = ""  # the PIN they choose (agents: the one staff set)
    id_number: str = ""


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
    # Other SMS this step must bring, each (who, a regular expression one of their SMS matches).
    told: tuple[tuple[Party, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StaffStep:
    """Staff at the terminal: `smscore admin` command lines (each as typed after `smscore admin`;
    `{state_dir}` is the demo's), and files they write first: (name in the state dir, text)."""

    title: str
    commands: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = ()
    told: tuple[tuple[Party, str], ...] = ()
    code_from: Party | None = None
    code_pattern: str = ""


@dataclass(frozen=True, slots=True)
class UssdStep:
    """A phone dials a USSD code on the simulator and answers each screen in turn, as typed on the
    keypad (menu numbers, a phone number, an amount, the PIN)."""

    title: str
    sender: Party
    code: str
    answers: tuple[str, ...]
    expect: str  # a regular expression the last screen must match
    told: tuple[tuple[Party, str], ...] = ()  # the SMS that follow the dialogue, as in Step


@dataclass(frozen=True, slots=True)
class IssueStep:
    """Staff issue e-money from the trust account into a wallet (what its owner paid into the
    trust account's bank), a move with its audit entry, as the agent store's e-float is."""

    title: str
    payee: Party
    amount_minor: int


@dataclass(frozen=True, slots=True)
class ApiCall:
    """A business's server calls the business API over HTTP with the key staff gave it.

    `path` may name a request an earlier call kept (`{salary}`: its serverCorrelationId). With
    `until`, the server then polls GET /requeststates/{id} until the state matches it; with
    `callback`, the request carries X-Callback-URL (the demo's receiver) and, when it is a new
    request that `until` saw finish, its signed PUT must arrive."""

    title: str
    caller: Party  # the business (its label and number)
    method: str
    path: str
    status: int  # the HTTP status the answer must have
    expect: str  # a regular expression the answer's body (JSON, as sent) must match
    body: str = ""  # JSON text
    correlation_id: str = ""  # X-CorrelationID
    callback: bool = False
    keep: str = ""  # remember the answer's serverCorrelationId by this name
    same_as: str = ""  # the answer must be the request kept by this name (idempotency)
    until: str = ""  # a regular expression the polled request state must come to match
    told: tuple[tuple[Party, str], ...] = ()  # SMS it must bring, as in Step


@dataclass(frozen=True, slots=True)
class Chapter:
    opening: str  # said before its first step, with the balance table
    people: tuple[Party, ...]  # whose wallet the balance table shows
    billers: tuple[str, ...]  # billers whose settlement account it shows, by code
    service: tuple[str, ...]  # the service's own accounts it shows (daemon.demo.books)
    steps: tuple[Step | StaffStep | UssdStep | IssueStep | ApiCall, ...]
