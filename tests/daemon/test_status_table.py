"""`smscore status` as tables (daemon.status_table): binds with their state and figures, queues,
counters with rates, security figures, the last errors; `--json` gives the JSON itself."""

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from rich.console import Console

from daemon.cli import main
from daemon.status import Snapshot
from daemon.status_table import format_status, print_status

REFUSED = "bind refused: ESME_RINVPASWD (Invalid Password)"
BINDS = [
    {"name": "carrier1", "host": "10.0.0.1:2775", "bound": True, "state": "up", "connects": 3,
     "drops": 2, "messages_received": 12034, "outstanding": 4, "queued": 0, "last_error": None},
    {"name": "carrier2", "host": "10.0.0.2:2775", "bound": False, "state": "refused-credentials",
     "connects": 7, "drops": 0, "messages_received": 0, "outstanding": 0, "queued": 0,
     "last_error": REFUSED},
]  # fmt: skip


def snapshot_json() -> dict:
    snapshot = Snapshot(
        role="all",
        status_listen="127.0.0.1:8780",
        started_at_s=1000.0,
        now_s=1000.0 + 3725,
        binds=BINDS,
        queues={"inbox_pending": 3, "inbox_done": 12000, "outbox_in_flight": 5},
        counters={"inbox.stored": 7450, "inbox.refused_queue_full": 0, "tranproc.repeats": 0,
                  "sender.sent": 3725},
        last_errors=[f"sender: error {n}" for n in range(1, 8)],
        security={"fraud_holds_waiting": 1},
    )  # fmt: skip
    return snapshot.as_json({})


def rendered(data: dict, width: int = 160) -> list[list[str]]:
    out = io.StringIO()
    print_status(data, Console(file=out, width=width, color_system=None))
    return [line.split() for line in out.getvalue().splitlines() if line.strip()]


def row(lines: list[list[str]], first: str) -> list[str]:
    [found] = [line for line in lines if line[:1] == [first]]
    return found


def test_a_row_per_bind_with_state_host_and_figures():
    lines = rendered(snapshot_json())
    assert [
        "Name",
        "State",
        "Host",
        "Connects",
        "Drops",
        "Received",
        "Outstanding",
        "Last",
        "error",
    ] in lines
    assert row(lines, "carrier1") == [
        "carrier1",
        "UP",
        "10.0.0.1:2775",
        "3",
        "2",
        "12,034",
        "4",
        "-",
    ]
    assert row(lines, "carrier2") == [
        "carrier2", "REFUSED-CREDENTIALS", "10.0.0.2:2775", "7", "0", "0", "0", *REFUSED.split(),
    ]  # fmt: skip


def test_the_heading_names_the_role_uptime_and_endpoint():
    [heading, *_] = rendered(snapshot_json())
    assert heading == [
        "smscore",
        "role",
        "all",
        "uptime",
        "1h02m05s",
        "http://127.0.0.1:8780/status",
    ]


def test_queues_counters_with_rates_security_and_the_last_five_errors():
    lines = rendered(snapshot_json())
    assert [line for line in lines if line[:1] == ["inbox"]] == [
        ["inbox", "done", "12,000"],
        ["inbox", "pending", "3"],
    ]
    assert row(lines, "outbox") == ["outbox", "in_flight", "5"]
    assert row(lines, "inbox.stored") == ["inbox.stored", "7,450", "2.0"]  # 7450 in 3725 s
    assert row(lines, "sender.sent") == ["sender.sent", "3,725", "1.0"]
    # a zero counter is left out, but the inbox's refusals always show
    assert row(lines, "inbox.refused_queue_full") == ["inbox.refused_queue_full", "0", "0.0"]
    assert not [line for line in lines if line[:1] == ["tranproc.repeats"]]
    assert row(lines, "fraud_holds_waiting") == ["fraud_holds_waiting", "1"]
    errors = [" ".join(line) for line in lines if line[:1] == ["sender:"]]
    assert errors == [f"sender: error {n}" for n in range(3, 8)]
    assert "carrier2: " + REFUSED in [" ".join(line) for line in lines]


def test_a_long_error_folds_and_loses_nothing():
    text = format_status({"binds": [{**BINDS[1], "last_error": "x" * 150}]}, width=130)
    assert max(len(line) for line in text.splitlines()) <= 130
    table, below = text.split("Last errors")
    assert table.count("x") == 150 and below.count("x") == 150


def test_an_80_column_terminal_gets_short_headings_and_the_bind_errors_below():
    lines = rendered(snapshot_json(), width=80)
    assert ["Name", "State", "Host", "Conn", "Drop", "Recv", "Outst"] in lines
    assert row(lines, "carrier2") == [
        "carrier2", "REFUSED-CREDENTIALS", "10.0.0.2:2775", "7", "0", "0", "0"
    ]  # fmt: skip
    assert "carrier2: " + REFUSED in [" ".join(line) for line in lines]  # under "Last errors"
    assert max(len(line) for line in format_status(snapshot_json(), 80).splitlines()) <= 80


def test_an_empty_answer_still_renders():
    assert rendered({}) == [
        ["smscore", "role", "?", "uptime", "0s", "http://?/status"],
        ["Binds:", "none", "(role", "tranproc,", "or", "no", "[[binds]]", "configured)"],
    ]


@pytest.fixture
def status_server() -> Iterator[str]:
    body = json.dumps(snapshot_json()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/status" else 404)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_smscore_status_prints_the_tables_or_the_json(status_server):
    runner = CliRunner()
    table = runner.invoke(main, ["status", "--url", status_server], env={"COLUMNS": "160"})
    assert table.exit_code == 0, table.output
    assert row([line.split() for line in table.output.splitlines()], "carrier1") == [
        "carrier1", "UP", "10.0.0.1:2775", "3", "2", "12,034", "4", "-"
    ]  # fmt: skip
    raw = runner.invoke(main, ["status", "--url", status_server, "--json"])
    assert raw.exit_code == 0 and json.loads(raw.output) == snapshot_json()
