"""`smscore demo --exit-after N`, the README's first command, tells the mobile-money story end to end
(the money story, then payments: bills, a till, a request to pay, airtime, a reversal staff approve,
then USSD: Bob walks the *334# menu, his balance and a SEND to Alice, then a business on the API:
staff register Acme, its server pays Bob's salary over HTTP with a signed callback, sends it again,
asks Alice to pay), and tells it again on the next run; the curl commands it prints then work."""

import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests
from click.testing import CliRunner

from daemon.chart import SystemAccount, wallet_account_id
from daemon.cli import main
from daemon.commands.money import format_amount
from daemon.demo.story import (
    AGENT_FLOAT_MINOR,
    ALICE,
    BILLER,
    BOB,
    BUSINESS,
    BUSINESS_FUNDS_MINOR,
    CHAPTERS,
    STEPS,
    ApiCall,
    IssueStep,
    StaffStep,
    Step,
    UssdStep,
)
from daemon.money.tariff import RecipientKind, load_tariff
from ledger import get_balance, make_engine
from tests.e2e.harness import SMSCORE, free_port

STORY_BUDGET_S = 30.0  # the whole story, fresh state to ledger check
TOLD_WITHIN_S = 60.0  # a demo run, from start to the curl commands printed
_SALARY_MINOR, _ORDER_MINOR = 1_500_000, 45_000  # the API chapter's disbursement and merchantpay


def _command(state_dir: Path, *extra: str, status_port: int | None = None) -> list[str]:
    return [
        str(SMSCORE), "demo", "--state-dir", str(state_dir), "--sim-http", "127.0.0.1:0",
        "--status-listen", f"127.0.0.1:{status_port or free_port()}",
        "--api-listen", "127.0.0.1:0", *extra,
    ]  # fmt: skip


def _demo(state_dir: Path, *extra: str, status_port: int | None = None):
    command = _command(state_dir, *extra, status_port=status_port)
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=state_dir.parent)


def _demo_tried_by_hand(state_dir: Path) -> tuple[int, str, str, list[requests.Response]]:
    """The demo left running after its story: the business-API commands it printed, run as a
    developer would paste them (each curl through `requests`), then Ctrl-C. Returns the exit code,
    stdout, stderr and each curl command's answer."""
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    demo = subprocess.Popen(_command(state_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=state_dir.parent)  # fmt: skip
    lines, answers = [], []
    try:
        deadline_s = time.monotonic() + TOLD_WITHIN_S
        while time.monotonic() < deadline_s:
            line = demo.stdout.readline()  # the story ends in a bounded time, or stops: EOF
            lines.append(line)
            if not line or line.startswith("Replies show below."):
                break
        answers = _run_by_hand("".join(lines))
    finally:
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=30)
    return demo.returncode, "".join(lines) + out, err, answers


def _run_by_hand(stdout: str) -> list[requests.Response]:
    """Each curl line the demo printed for the business API, with the KEY it printed once."""
    [key] = re.findall(r"^  KEY=(smk_\S+)$", stdout, re.MULTILINE)
    answers = []
    for line in re.findall(r"^  (curl .*)$", stdout, re.MULTILINE):
        if "<" not in line:  # a line to finish by hand (the id of an earlier answer) is not run
            answers.append(_curl(line.replace("$KEY", key)))
    return answers


def _curl(line: str) -> requests.Response:
    """What `curl -s [-H HEADER]... [-d BODY] URL` sends (POST with a body), sent by `requests`."""
    words = iter(shlex.split(line)[1:])
    headers, body, url = {}, None, ""
    for word in words:
        if word == "-H":
            name, value = next(words).split(": ", 1)
            headers[name] = value
        elif word == "-d":
            body = next(words)
        elif word != "-s":
            url = word
    method = "POST" if body is not None else "GET"
    return requests.request(method, url, headers=headers, data=body, timeout=10)


def _balance_rows(stdout: str) -> list[list[str]]:
    """Each balance table's row, as printed: in the money story Agent, Alice, Bob, Carol, Fees,
    Commission, Vouchers; in the payments chapter Alice, Bob, Shop, KPLC, Airtime, Fees."""
    return [line.split()[1:] for line in stdout.splitlines() if re.match(r"^\s+KES\s+[\d-]", line)]


def _steps_told(stdout: str) -> list[str]:
    return re.findall(r"^\s*\d+\. (.*)$", stdout, re.MULTILINE)


def _expected_money_story_balances() -> tuple[int, int]:
    """Alice and Bob at the end of the money story, from the story and the tariff."""
    tariff = load_tariff(None)
    sent = 2 * (100_000 + tariff.fee_minor("SEND", 100_000, RecipientKind.REGISTERED))
    voucher = 50_000 + tariff.fee_minor("SEND", 50_000, RecipientKind.UNREGISTERED)
    alice = 500_000 - tariff.fee_minor("DEPOSIT", 500_000) - sent - voucher
    bob = 200_000 - 30_000 - tariff.fee_minor("WITHDRAW", 30_000)
    return alice, bob


def _expected_payment_balances() -> list[int]:
    """Alice, Bob, the shop, Kenya Power, the airtime provider at the end of the payments chapter:
    the bill, the till, the request and the airtime each with their fees; Bob's mistaken SEND is
    back (its fee is not)."""
    tariff = load_tariff(None)
    alice, bob = _expected_money_story_balances()
    alice -= 100_000 + tariff.fee_minor("PAY", 100_000, biller=BILLER)
    alice -= 35_000 + tariff.fee_minor("TILL", 35_000)  # the shop's request, paid to its till
    alice -= 10_000 + tariff.fee_minor("BUY", 10_000)
    bob -= 25_000 + tariff.fee_minor("TILL", 25_000)
    bob -= tariff.fee_minor("SEND", 40_000, RecipientKind.REGISTERED)
    shop = sum(amount - tariff.merchant_fee_minor("TILL", amount) for amount in (25_000, 35_000))
    return [alice, bob, shop, 100_000, 10_000]


def _expected_ussd_balances() -> list[int]:
    """Alice and Bob after the USSD chapter: Bob's balance costs nothing; his KES 200 to Alice
    costs him its fee."""
    alice, bob, *_ = _expected_payment_balances()
    fee = load_tariff(None).fee_minor("SEND", 20_000, RecipientKind.REGISTERED)
    return [alice + 20_000, bob - 20_000 - fee]


def _expected_api_balances() -> list[int]:
    """Alice, Bob and Acme after the API chapter: Bob's salary; Alice's order paid to Acme's till
    with TILL's fees (hers and the merchant's); Acme's e-money less the salary (no fee)."""
    tariff = load_tariff(None)
    alice, bob = _expected_ussd_balances()
    alice -= _ORDER_MINOR + tariff.fee_minor("TILL", _ORDER_MINOR)
    acme = BUSINESS_FUNDS_MINOR - _SALARY_MINOR
    acme += _ORDER_MINOR - tariff.merchant_fee_minor("TILL", _ORDER_MINOR)
    return [alice, bob + _SALARY_MINOR, acme]


def _ledger_balances(state_dir: Path) -> list[str]:
    """The last chapter's columns (Alice, Bob, Acme, fees) as the ledger has them after the story."""
    engine = make_engine(f"sqlite:///{state_dir / 'smscore.db'}")
    try:
        with engine.connect() as conn:
            ids = [wallet_account_id(who.msisdn) for who in (ALICE, BOB, BUSINESS)]
            found = [get_balance(conn, i) for i in (*ids, int(SystemAccount.FEE_INCOME))]
    finally:
        engine.dispose()
    return [format_amount(b.available) if b is not None else "-" for b in found]


def _chapter_rows(rows: list[list[str]]) -> list[list[list[str]]]:
    """The balance rows split by chapter: its opening table, then one per step."""
    split, first = [], 0
    for chapter in CHAPTERS:
        split.append(rows[first : first + len(chapter.steps) + 1])
        first += len(chapter.steps) + 1
    return split


def _block(stdout: str, number: int) -> list[str]:
    """What step `number` printed after its title: what was sent or typed, what phones received."""
    told = stdout.split(f"\n{number:2d}. ", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in told.splitlines()[1:]]


def _assert_step_told(
    number: int, step: Step | StaffStep | UssdStep | ApiCall | IssueStep, lines: list[str]
) -> None:
    if isinstance(step, StaffStep):
        typed = [line for line in lines if line.startswith("staff$ smscore admin ")]
        assert len(typed) == len(step.commands), lines
    elif isinstance(step, ApiCall):
        _assert_call_told(step, lines)
    elif isinstance(step, IssueStep):
        amount = re.escape(format_amount(step.amount_minor))
        assert re.fullmatch(
            rf"trust account -> {step.payee.label} {step.payee.msisdn}: KES {amount} of e-money "
            r"issued, ref [A-Z0-9]{10} \(audited, as the agent store's e-float was\)",
            lines[0],
        ), lines
    elif isinstance(step, UssdStep):
        _assert_dialogue_told(step, lines)
    else:
        # Each message gets its reply under it: the sender's phone shows an SMS before the next
        # step (the rollback's confirmation never reaches it; the "did not go through" SMS does).
        assert f"{step.sender.msisdn} -> 12345: " in lines[0]
        replies = [line for line in lines if f"{step.sender.msisdn} <- 12345: " in line]
        assert replies and re.search(step.expect, replies[0]), lines
    for who, pattern in getattr(step, "told", ()):  # every other SMS it must bring came in it
        got = [line for line in lines if f"{who.msisdn} <- 12345: " in line]
        assert any(re.search(pattern, line) for line in got), (number, who.label, lines)


def _assert_call_told(step: ApiCall, lines: list[str]) -> None:
    """The request as sent (method, the API's URL, the headers with the key's id only, the body),
    the answer as the API sent it; a polled request state; a callback whose signature verified."""
    label = f"{step.caller.label:<6}"
    path = re.sub(r"\\\{\w+\\\}", "[0-9a-f-]{36}", re.escape(step.path))  # a kept request's id
    url = rf"http://127\.0\.0\.1:\d+{path}"
    sent = [line for line in lines if re.fullmatch(rf"{label}{step.method} {url}", line)]
    assert len(sent) == 1, lines
    headers = lines[lines.index(sent[0]) + 1]
    assert re.match(r"X-API-Key: smk_[0-9a-f]{16}_…", headers), lines  # never the key's secret
    assert (f"X-CorrelationID: {step.correlation_id}" in headers) == bool(step.correlation_id)
    assert ("X-Callback-URL: http://127.0.0.1:" in headers) == step.callback
    answers = [line for line in lines if line.startswith(f"{label}<- ")]
    assert answers[0].startswith(f"{label}<- {step.status} {{"), lines
    assert re.search(step.expect, answers[0]), lines
    assert len(answers) == (2 if step.until else 1), lines
    if step.until:  # polled until done: the last state read is printed
        assert re.search(step.until, answers[1]) and answers[1].startswith(f"{label}<- 200 ")
    signed = [line for line in lines if line.startswith("X-Signature: ")]
    if step.callback and step.until:  # a new request with a callback URL: its PUT came, signed
        assert re.fullmatch(
            r"X-Signature: sha256=[0-9a-f]{64} \(genuine: the HMAC-SHA256 of the body with "
            r"ACME's secret\)", signed[0],
        ), lines  # fmt: skip
        assert any(line.startswith(f"{label}callback <- PUT /callbacks/acme ") for line in lines)
    else:
        assert signed == [], lines


def _assert_dialogue_told(step: UssdStep, lines: list[str]) -> None:
    """The dial, then each screen drawn as a phone's (a box titled with the code) with what was
    typed under it, the last screen saying what the step expects."""
    assert lines[0] == f"{step.sender.label:<6}{step.sender.msisdn} dials {step.code}"
    typed = [line.split("types ", 1)[1] for line in lines if " types " in line]
    assert typed == list(step.answers), lines
    tops = [line for line in lines if line.startswith(f"╭─ {step.code} ─")]
    assert len(tops) == len(step.answers) + 1, lines
    last_box = lines[max(i for i, line in enumerate(lines) if line.startswith("╭─")) :]
    inside = [line.strip("│ ") for line in last_box if line.startswith("│")]
    assert re.search(step.expect, " ".join(inside)), lines
    widths = {len(line) for line in lines if line[:1] in "╭│╰"}
    assert len(widths) == 1, lines  # every screen the same width, like a phone's


def _assert_story_told(stdout: str) -> None:
    assert "!!" not in stdout, stdout
    assert _steps_told(stdout) == [step.title for step in STEPS]
    for number, step in enumerate(STEPS, 1):
        _assert_step_told(number, step, _block(stdout, number))
    assert "(Alice's phone is off: the reply is not delivered)" in stdout
    issued = format_amount(AGENT_FLOAT_MINOR + BUSINESS_FUNDS_MINOR)  # the store's, Acme's
    assert f"trust reconciles: e-money issued KES {issued};" in stdout
    # Every staff action is in the audit log: the agent store, each command staff typed, each
    # e-money issue.
    staff_commands = sum(len(step.commands) for step in STEPS if isinstance(step, StaffStep))
    staff_commands += sum(isinstance(step, IssueStep) for step in STEPS)
    assert re.search(
        rf"\n    audit log OK: {1 + staff_commands} entries, head [0-9a-f]{{64}}\n", stdout
    )
    assert re.search(r"\n    ledger ok: \d+ transfers, head [0-9a-f]{64}\n", stdout)
    told_in_s = float(re.search(r"The story ran as told in ([\d.]+) s\.", stdout).group(1))
    assert told_in_s < STORY_BUDGET_S


def _assert_balances_told(stdout: str) -> list[list[str]]:
    """Each chapter's tables add up to what its story does; returns the API chapter's rows."""
    rows = _balance_rows(stdout)
    assert len(rows) == len(STEPS) + len(CHAPTERS)  # a table per chapter opening and step
    money_rows, payment_rows, ussd_rows, api_rows = _chapter_rows(rows)
    # Nobody but the agent store exists before the story: the second run starts afresh.
    assert money_rows[0] == ["50,000.00", "-", "-", "-", "0.00", "0.00", "0.00"]
    alice, bob = _expected_money_story_balances()
    assert money_rows[-1][1:4] == [format_amount(alice), format_amount(bob), "-"]
    assert money_rows[-1][6] == "0.00"  # Carol's voucher was collected
    # The shop and Kenya Power have no account until staff set them up.
    assert payment_rows[0][:4] == [format_amount(alice), format_amount(bob), "-", "-"]
    assert payment_rows[-1][:5] == [format_amount(v) for v in _expected_payment_balances()]
    # USSD: Bob's balance moves nothing; his SEND from the menu moves it once.
    assert ussd_rows[0][:2] == payment_rows[-1][:2] == ussd_rows[1][:2]
    assert ussd_rows[-1][:2] == [format_amount(v) for v in _expected_ussd_balances()]
    # Acme has no account until staff register it; the replay and the duplicate move nothing.
    assert api_rows[0] == [*ussd_rows[-1][:2], "-", ussd_rows[-1][2]]
    assert api_rows[-1][:3] == [format_amount(v) for v in _expected_api_balances()]
    # What Acme's server reads from GET /accounts/.../balance is what the books say.
    [read] = re.findall(r'"availableBalance":"([\d.]+)"', stdout)
    assert format_amount(int(read.replace(".", ""))) == api_rows[-1][2]
    return api_rows


def _assert_tried_by_hand(answers: list[requests.Response], acme_balance: str) -> None:
    """The printed commands: heartbeat, Acme's balance, a disbursement, its lost response, a
    merchantpay; each answered as the API document says."""
    heartbeat, balance, paid, lost, asked = answers
    assert heartbeat.status_code == 200 and heartbeat.json()["serviceStatus"] == "available"
    assert balance.status_code == 200
    assert format_amount(int(balance.json()["availableBalance"].replace(".", ""))) == acme_balance
    assert paid.status_code == 202 and paid.json()["status"] == "pending", paid.text
    assert lost.status_code == 200, lost.text
    link = lost.json()["link"]  # the transaction, or the request state while it is under way
    server_id = paid.json()["serverCorrelationId"]
    assert link.endswith(f"/requeststates/{server_id}") or "/transactions/" in link, link
    assert asked.status_code == 202 and asked.json()["status"] == "pending", asked.text


def test_demo_tells_the_story_and_the_next_run_tells_it_afresh(tmp_path) -> None:
    state_dir = tmp_path / "demo"
    result = _demo(state_dir, "--exit-after", "0")
    assert result.returncode == 0, f"first run:\n{result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr
    _assert_story_told(result.stdout)
    api_rows = _assert_balances_told(result.stdout)
    # What the last table shows is what the ledger holds (and what the story adds up to).
    assert api_rows[-1] == _ledger_balances(state_dir)
    # The next run starts afresh, tells it all again, and the commands it prints then work.
    code, stdout, stderr, answers = _demo_tried_by_hand(state_dir)
    assert code == 0, f"second run:\n{stdout}{stderr}"
    assert "Traceback" not in stderr
    _assert_story_told(stdout)
    _assert_tried_by_hand(answers, _assert_balances_told(stdout)[-1][2])


def test_demo_will_not_empty_a_directory_it_did_not_make(tmp_path) -> None:
    state_dir = tmp_path / "mine"
    state_dir.mkdir()
    (state_dir / "notes.txt").write_text("keep me")
    # In this process: the refusal comes before the reactor or the simulator is touched.
    result = CliRunner().invoke(main, ["demo", "--state-dir", str(state_dir), "--exit-after", "0"])
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"smscore: --state-dir {state_dir}: holds files the demo did not make")
    assert (state_dir / "notes.txt").read_text() == "keep me"


def test_demo_stops_with_one_line_when_its_status_port_is_taken(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _demo(tmp_path / "demo", "--exit-after", "5", status_port=port)
    assert result.returncode == 1
    assert result.stdout == ""  # no banner advertising a port it does not have
    [line] = result.stderr.splitlines()
    assert line.startswith(f"smscore: status.listen 127.0.0.1:{port}: ") and "in use" in line
