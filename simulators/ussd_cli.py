"""`smscore sim ussd MSISDN CODE`: a USSD dialogue in the terminal, through a running simulator's
control API (/v1/ussd/sessions, simulators/ussd_http.py).

Each screen is printed as it comes; a question is answered from the keyboard, or from `--answers`
in order (each shown after "> "). Exit 0 when the application's last screen ended the dialogue;
2 when it ended otherwise (timed out, refused, answers ran out) or the simulator cannot be reached;
130 after Ctrl-C (or end of input), which hangs up first, so the ESME sees the release.

The client blocks (urllib): a terminal dialogue does one thing at a time, and Ctrl-C is then a
plain KeyboardInterrupt wherever it lands.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import quote

EXIT_ENDED = 0
EXIT_NOT_ENDED = 2
EXIT_INTERRUPTED = 130  # the shell's code for a run stopped by SIGINT
WAIT_S = 5.0  # per request, below the API's MAX_WAIT_S; the network's timers end a dialogue
REQUEST_TIMEOUT_S = WAIT_S + 10.0


class UssdClientError(Exception):
    """The simulator refused a request or cannot be reached; one line."""


class Dialogues(Protocol):
    def start(self, msisdn: str, code: str) -> dict[str, Any]: ...

    def answer(self, session_id: str, text: str) -> dict[str, Any]: ...

    def get(self, session_id: str) -> dict[str, Any]: ...

    def abort(self, session_id: str) -> dict[str, Any]: ...


class UssdClient:
    """The control API's USSD sessions; each call waits up to WAIT_S for the next screen."""

    def __init__(self, base_url: str, system_id: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.system_id = system_id

    def start(self, msisdn: str, code: str) -> dict[str, Any]:
        body = {"msisdn": msisdn, "code": code, "system_id": self.system_id}
        return self._call("POST", f"/v1/ussd/sessions?wait_s={WAIT_S:g}", body)

    def answer(self, session_id: str, text: str) -> dict[str, Any]:
        path = f"/v1/ussd/sessions/{quote(session_id)}/answer?wait_s={WAIT_S:g}"
        return self._call("POST", path, {"text": text})

    def get(self, session_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/ussd/sessions/{quote(session_id)}?wait_s={WAIT_S:g}")

    def abort(self, session_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/ussd/sessions/{quote(session_id)}")

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data, method=method)
        request.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                return _decoded(response.read(), response.status)
        except urllib.error.HTTPError as exc:
            return _decoded(exc.read(), exc.code)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UssdClientError(
                f"cannot reach the simulator at {self.base_url}: {reason}"
            ) from None


def _decoded(raw: bytes, status: int) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except ValueError:
        raise UssdClientError(f"the simulator answered {status} with non-JSON") from None
    if status >= HTTPStatus.BAD_REQUEST:
        raise UssdClientError(f"the simulator said {status}: {payload.get('error')}")
    return payload


def run_dialogue(
    client: Dialogues,
    msisdn: str,
    code: str,
    answers: list[str] | None,
    echo: Callable[[str], None],
    ask: Callable[[str], str] = input,
) -> int:
    """Walk one dialogue; the exit code (see the module docstring). Raises UssdClientError."""
    session = client.start(msisdn, code)
    try:
        return _walk(client, session, answers, echo, ask)
    except (KeyboardInterrupt, EOFError):
        _hang_up(client, session["id"])
        echo("-- aborted")
        return EXIT_INTERRUPTED
    except UssdClientError:
        # A refused answer (e.g. too long) ends the command: hung up, so the phone is not left in
        # a dialogue nobody answers until the network's session timeout.
        _hang_up(client, session["id"])
        raise


def _hang_up(client: Dialogues, session_id: str) -> None:
    try:
        client.abort(session_id)
    except UssdClientError:
        pass  # ended meanwhile (409) or gone: nothing left to hang up


def _walk(
    client: Dialogues,
    session: dict[str, Any],
    answers: list[str] | None,
    echo: Callable[[str], None],
    ask: Callable[[str], str],
) -> int:
    shown = 0
    pending = None if answers is None else list(answers)
    while True:
        while session["state"] == "waiting_screen":
            session = client.get(session["id"])
        for screen in session["screens"][shown:]:
            echo(screen["text"])
        shown = len(session["screens"])
        if session["state"] != "waiting_answer":
            return _ended(session, echo)
        if pending is None:
            text = ask("> ")
        elif pending:
            text = pending.pop(0)
            echo(f"> {text}")
        else:
            client.abort(session["id"])
            echo("-- no answer left for this screen: hung up")
            return EXIT_NOT_ENDED
        session = client.answer(session["id"], text)


def _ended(session: dict[str, Any], echo: Callable[[str], None]) -> int:
    if session["state"] == "ended" and session["final"]:
        return EXIT_ENDED
    reason = session.get("end_reason")
    echo(f"-- session {session['state']}" + (f": {reason}" if reason else ""))
    return EXIT_NOT_ENDED
