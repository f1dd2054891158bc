"""The sender (reactor side): claims outbox rows, submits them through the bind pool, records the
outcomes in batches. Its SQL is daemon.outbox.claims, the PDUs come from daemon.submit, and
daemon.outbox.disposition classifies the answers.

A round is: one transaction claims up to `batch_size` queued rows (marks them in_flight with
claimed_at_ns; PostgreSQL skips rows another sender has locked), the rows are split into parts and every
part goes to `pool.submit`, and as answers come back the outcomes are written by one transaction for many
messages (group commit: as soon as every outstanding message has an answer, or after
`record_max_wait_ms`). Nothing on this path does a database round trip per message.

What an answer does to the row:
- every part ESME_ROK: parts stored with their message ids (and normalised keys, see daemon.receipts),
  row submitted; receipts that overtook the submit_sm_resp are applied at once;
- a permanent error status: undeliverable, `last_error` names the status;
- a temporary status (THROTTLED / MSGQFUL after the protocol's own retries, RX_T_APPN, SYSERR), or an
  unknown outcome (ResponseTimeout, ConnectionLostError): queued again after retry_delay_s with the
  attempt counted; undeliverable once attempts reach max_attempts;
- nothing left this process (NoBindAvailable, NotSent, QueueFull): queued again, no attempt counted.

At-least-once: after a ResponseTimeout or a lost connection the SMSC may have accepted the message; it
is sent again, so the subscriber can get it twice. Likewise a crash between the claim and the record
leaves rows in_flight, claimed by this process's lease owner (daemon.outbox.leases): the restarted
process re-queues them at start-up, or any sweeper once the dead owner's lease expires. Losing a reply
is worse than a duplicate (the design's "every MO gets a reply"); money hooks never depend on a reply
being unique. Parts already accepted are never re-sent: a retry re-uses the stored concatenation reference and
submits only the missing parts, so the handset can still join them.

A USSD screen (a row with ussd_op) goes as ONE submit_sm in its session, in the dialect of the row's
own bind and through that bind only (the dialogue lives on that SMSC link): while it is down the row
waits (no attempt counted) and the sweeper gives up at deliver_by_ns. No receipt is asked and none
comes: ESME_ROK makes the row delivered at once (final; daemon.money.settle posts what waited on
it), an error status makes it failed, a temporary one retries like an SMS but never past
deliver_by_ns. A text longer than one USSD string, or a screen for a bind without a ussd_dialect,
is a bug: undeliverable with a last_error naming it, never cut.
"""

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon.clock import now_ns
from daemon.config import BindConfig, SenderConfig
from daemon.deferreds import when_done
from daemon.log_lines import mt_lines
from daemon.outbox.claims import (
    AcceptedPart,
    ClaimedSms,
    RecordResult,
    SmsOutcome,
    claim_outbox_txn,
    record_outcomes_txn,
)
from daemon.outbox.disposition import Disposition, classify_error, classify_status, status_name
from daemon.submit import address_problem, build_submit, build_ussd_submit, reference_for
from smscore.concat import MessagePart, split_message
from smscore.defaults import DEFAULT_WINDOW
from smscore.pdu import PDU
from smscore.status import CommandStatus
from smscore.ussd import UssdTextTooLong
from smscore.ussd_dialects import UssdParamsError

log = Logger()

_RECORD_RETRY_S = 1.0  # after a failed outcome write (database down): try the same batch again
# Then leave the rows in_flight for the sweeper rather than loop forever: 30 x 1 s stays well
# inside the default in_flight_timeout_s (120 s), so the sweeper does not re-queue rows meanwhile.
_MAX_RECORD_RETRIES = 30
# Window of a bind the sender has no settings for (BindConfig's own default).
# Without a TPS limit, keep this many windows' worth queued per bind: enough that the window
# refills from the queue at once, few enough that a slow bind holds little.
_UNLIMITED_QUEUE_WINDOWS = 20
_REFERENCE_MODULUS = 0x10000  # references are 16-bit; udh8 uses the low byte (daemon.submit)


# --- the Twisted side ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Submission:
    """One row's parts on their way; resolved when every submitted part has its answer."""

    sms: ClaimedSms
    reference: int
    parts_total: int
    bind_name: str
    held: int  # pool slots this row counts against the in-flight bound
    pending: int = 1  # a guard held while the parts are being submitted
    accepted: list[AcceptedPart] = field(default_factory=list)
    disposition: Disposition = Disposition.SUBMITTED
    error: str = ""
    refused: bool = False  # an error status from the SMSC (not a lost or unsent submit)

    def fail(self, disposition: Disposition, error: str) -> None:
        if disposition > self.disposition or not self.error:
            self.disposition = max(self.disposition, disposition)
            self.error = error

    def outcome(self) -> SmsOutcome:
        return SmsOutcome(
            self.sms,
            self.reference,
            self.parts_total,
            self.bind_name,
            tuple(self.accepted),
            self.disposition,
            self.error,
            self.refused,
        )


@dataclass(frozen=True, slots=True)
class _SplitSettings:
    concat_method: str = "udh8"
    default_alphabet: str = "gsm7"


class Sender:
    """Moves outbox rows to the SMSC. `wake()` after committing new rows; it also polls."""

    def __init__(
        self,
        reactor: Any,
        db: Any,
        pool: Any,
        bind_settings: Mapping[str, BindConfig],
        config: SenderConfig,
        *,
        rng: random.Random | None = None,
        owner: str | None = None,
    ) -> None:
        self.reactor = reactor
        self.owner = owner  # the lease owner its claims record (None: no lease)
        self.db = db
        self.pool = pool
        self.bind_settings = dict(bind_settings)
        self.config = config
        self._next_reference = (rng or random.Random()).randrange(_REFERENCE_MODULUS)
        self._running = False
        self._claiming = False
        self._backlog = False  # the last claim was full: more rows are probably due
        self._woken_while_claiming = False  # rows were committed after the claim's SELECT
        self._round_call: IDelayedCall | None = None
        self._flush_call: IDelayedCall | None = None
        self._writing: Deferred | None = None
        self._held = 0  # parts claimed and not yet recorded
        self._unresolved = 0  # submissions still waiting for an answer
        self._resolved: list[_Submission] = []
        self._record_failures = 0  # consecutive failed outcome writes
        self._draining = False  # SIGTERM: no more claims, the answers still awaited are waited for
        self._drained: Deferred | None = None
        self._drain_call: IDelayedCall | None = None
        self.counters = {"claimed": 0, "submitted_parts": 0, "recorded": 0, "stale": 0}

    # --- lifecycle ---

    def start(self) -> None:
        self._running = True
        self._schedule_round(0)

    def stop(self) -> Deferred:
        """Stop claiming; write the outcomes already known. Rows still waiting for an answer stay
        in_flight (this process re-queues them when it starts again, or a sweeper once its lease
        expires)."""
        self._running = False
        self.hurry()
        for call in (self._round_call, self._flush_call):
            if call is not None and call.active():
                call.cancel()
        self._round_call = self._flush_call = None
        if self._writing is not None:
            done = when_done(self._writing)
            done.addCallback(lambda _: self._flush(final=True))
            return done
        return self._flush(final=True)

    def drain(self, timeout_s: float) -> Deferred:
        """Stop claiming; fire with the number of messages still unanswered once every submit_sm
        sent has its submit_sm_resp (0), or after `timeout_s`, or at `hurry()`. Outcomes keep being
        recorded meanwhile; stop() writes the last of them."""
        self._draining = True
        if self._round_call is not None and self._round_call.active():
            self._round_call.cancel()
        self._round_call = None
        if self._drained is None:
            self._drained = Deferred()
            self._drain_call = self.reactor.callLater(timeout_s, self.hurry)
            self._check_drained()
        return when_done(self._drained).addCallback(lambda _: self._unresolved)

    def hurry(self) -> None:
        """End the wait of drain() now (its timeout, or a second SIGINT)."""
        drained, self._drained = self._drained, None
        if self._drain_call is not None and self._drain_call.active():
            self._drain_call.cancel()
        self._drain_call = None
        if drained is not None and not drained.called:
            drained.callback(None)

    def _check_drained(self) -> None:
        if self._drained is not None and not self._claiming and self._unresolved == 0:
            self.hurry()

    @property
    def unanswered(self) -> int:
        """Messages with a submit_sm (or its guard) still waiting for an answer."""
        return self._unresolved

    def wake(self) -> None:
        """New rows were committed: claim soon (many wakes in one reactor turn make one round)."""
        if self._claiming:
            # The claim under way may have missed them: claim again as soon as it is done rather
            # than after poll_interval_s.
            self._woken_while_claiming = True
            return
        self._schedule_round(0)

    @property
    def in_flight_parts(self) -> int:
        return self._held

    def capacity(self) -> int:
        """Parts the pool can take now: enough to keep every bound window busy, no more than its queues
        drain within a quarter of in_flight_timeout_s (so the sweeper never re-queues a waiting row)."""
        total = 0
        for bind in self.pool.transmitters():
            settings = self.bind_settings.get(bind.name)
            window = settings.window if settings else DEFAULT_WINDOW
            tps = settings.tps_limit if settings else None
            if tps is None:
                total += window * _UNLIMITED_QUEUE_WINDOWS
            else:
                total += max(window, int(tps * self.config.in_flight_timeout_s / 4))
        return min(total, self.config.max_in_flight)

    # --- claiming ---

    def _schedule_round(self, delay_s: float) -> None:
        if not self._running or self._draining:
            return
        call = self._round_call
        if call is not None and call.active():
            if call.getTime() <= self.reactor.seconds() + delay_s:
                return
            call.cancel()
        self._round_call = self.reactor.callLater(delay_s, self._round)

    def _round(self) -> None:
        self._round_call = None
        if not self._running or self._claiming or self._draining:
            return
        limit = min(self.config.batch_size, self.capacity() - self._held)
        if limit <= 0:
            self._schedule_round(self.config.poll_interval_s)
            return
        self._claiming = True
        self._woken_while_claiming = False
        claim = self.db.run_interaction(
            "sender.claim", claim_outbox_txn, limit, now_ns(self.reactor), self.owner
        )
        claim.addCallbacks(self._claimed, self._claim_failed, callbackArgs=(limit,))

    def _claimed(self, rows: list[ClaimedSms], limit: int) -> None:
        self._claiming = False
        self._backlog = len(rows) >= limit
        self.counters["claimed"] += len(rows)
        for sms in rows:
            self._submit(sms)
        soon = self._backlog or self._woken_while_claiming
        self._schedule_round(0 if soon else self.config.poll_interval_s)
        self._check_drained()

    def claim_limit(self) -> int:
        """How many rows another transaction may claim for this sender now (the TranProc does, for
        the replies it has just written: a commit and a pipeline turn fewer per reply)."""
        if not self._running or self._draining:
            return 0
        return max(0, min(self.config.batch_size, self.capacity() - self._held))

    def take_claimed(self, rows: list[ClaimedSms]) -> None:
        """Submit rows another transaction claimed (and committed) for this sender."""
        self.counters["claimed"] += len(rows)
        for sms in rows:
            self._submit(sms)

    def _claim_failed(self, failure: Failure) -> None:
        self._claiming = False
        log.failure("claiming outbox rows failed", failure)
        self._schedule_round(self.config.poll_interval_s)
        self._check_drained()

    # --- submitting ---

    def _split_settings(self, bind_name: str | None) -> _SplitSettings | BindConfig:
        if bind_name in self.bind_settings:
            return self.bind_settings[bind_name]  # type: ignore[index]
        return next(iter(self.bind_settings.values()), _SplitSettings())

    def _take_reference(self) -> int:
        reference = self._next_reference
        self._next_reference = (reference + 1) % _REFERENCE_MODULUS
        return reference

    def _submit(self, sms: ClaimedSms) -> None:
        if sms.ussd is not None:
            self._submit_ussd(sms)
            return
        settings = self._split_settings(sms.bind_name)
        reference = sms.concat_reference
        if reference is None:
            reference = self._take_reference()
        source = sms.source_addr or self.config.source_addr
        problem = address_problem(source, "source address") or address_problem(
            sms.destination_addr, "destination address"
        )
        parts: list[MessagePart] = []
        if problem is None:
            try:
                parts = split_message(
                    sms.text,
                    settings.concat_method,
                    reference_for(settings.concat_method, reference),
                    default_alphabet=settings.default_alphabet,
                )
            except ValueError as exc:  # ConcatError, TextEncodingError: too long, cannot encode
                problem = f"cannot split the text: {exc}"
        to_send = [(no, part) for no, part in enumerate(parts, 1) if no not in sms.parts_done]
        held = max(1, len(to_send))
        submission = _Submission(sms, reference, len(parts), sms.bind_name or "", held)
        self._held += held
        self._unresolved += 1
        if problem is not None:
            submission.fail(Disposition.UNDELIVERABLE, problem)
        for part_no, part in to_send if problem is None else ():
            pdu = build_submit(source, sms.destination_addr, part, self.config.request_receipts)
            if not self._submit_part(submission, part_no, pdu):
                break
        self._part_done(submission)  # releases the guard

    def _submit_ussd(self, sms: ClaimedSms) -> None:
        bind_name = sms.bind_name or ""
        submission = _Submission(sms, sms.concat_reference or 0, 1, bind_name, held=1)
        self._held += 1
        self._unresolved += 1
        pdu, problem = self._ussd_pdu(sms)
        if pdu is None:
            submission.fail(Disposition.UNDELIVERABLE, problem)
        elif not any(bind.name == bind_name for bind in self.pool.transmitters()):
            # Only this bind knows the dialogue; pool.submit would fall back to another one.
            submission.fail(Disposition.RETRY_FREE, f"USSD bind {bind_name!r} is not bound")
        else:
            self._submit_part(submission, 1, pdu)
        self._part_done(submission)  # releases the guard

    def _ussd_pdu(self, sms: ClaimedSms) -> tuple[PDU | None, str]:
        settings = self.bind_settings.get(sms.bind_name or "")
        if settings is None or settings.ussd_dialect is None:
            return None, f"a USSD screen for bind {sms.bind_name!r}, which has no ussd_dialect"
        source = sms.source_addr or self.config.source_addr
        problem = address_problem(source, "source address") or address_problem(
            sms.destination_addr, "destination address"
        )
        if problem is not None:
            return None, problem
        assert sms.ussd is not None
        try:
            pdu = build_ussd_submit(
                source,
                sms.destination_addr,
                sms.text,
                settings.default_alphabet,
                settings.ussd_dialect,
                sms.ussd,
            )
        except (UssdTextTooLong, UssdParamsError, ValueError) as exc:
            return None, f"cannot send the USSD screen: {exc}"
        return pdu, ""

    def _submit_part(self, submission: _Submission, part_no: int, pdu: PDU) -> bool:
        try:
            answer = self.pool.submit(pdu, prefer=submission.sms.bind_name)
        except Exception as exc:  # NoBindAvailable, QueueFull: nothing was sent
            submission.fail(classify_error(exc), type(exc).__name__)
            return False
        submission.pending += 1
        self.counters["submitted_parts"] += 1
        answer.addCallbacks(
            self._part_answered,
            self._part_failed,
            callbackArgs=(submission, part_no),
            errbackArgs=(submission,),
        )
        return True

    def _part_answered(self, response: PDU, submission: _Submission, part_no: int) -> None:
        status = response.command_status
        if status == CommandStatus.ESME_ROK:
            message_id = response.message_id  # type: ignore[attr-defined]
            if isinstance(message_id, bytes):
                message_id = message_id.decode("latin-1")
            submission.accepted.append(AcceptedPart(part_no, (message_id or "").strip()))
        else:
            submission.refused = True
            submission.fail(classify_status(status), status_name(status))
        self._part_done(submission)

    def _part_failed(self, failure: Failure, submission: _Submission) -> None:
        submission.fail(classify_error(failure.value), type(failure.value).__name__)
        self._part_done(submission)

    def _part_done(self, submission: _Submission) -> None:
        submission.pending -= 1
        if submission.pending:
            return
        self._unresolved -= 1
        self._resolved.append(submission)
        if self._running:
            wait_s = 0 if self._unresolved == 0 else self.config.record_max_wait_ms / 1000
            self._schedule_flush(wait_s)
        self._check_drained()

    # --- recording ---

    def _schedule_flush(self, delay_s: float) -> None:
        call = self._flush_call
        if call is not None and call.active():
            if call.getTime() <= self.reactor.seconds() + delay_s:
                return
            call.cancel()
        self._flush_call = self.reactor.callLater(delay_s, self._flush)

    def _flush(self, final: bool = False) -> Deferred:
        self._flush_call = None
        if self._writing is not None or not self._resolved:
            return succeed(None)
        batch, self._resolved = self._resolved, []
        write = self.db.run_interaction(
            "sender.record",
            record_outcomes_txn,
            [submission.outcome() for submission in batch],
            now_ns(self.reactor),
            self.config,
        )
        self._writing = write
        write.addCallbacks(self._recorded, self._record_failed, (batch,), None, (batch,))
        return when_done(write) if final else succeed(None)

    def _recorded(self, result: RecordResult, batch: list[_Submission]) -> None:
        self._writing = None
        self._record_failures = 0
        self._held -= sum(submission.held for submission in batch)
        self.counters["recorded"] += result.recorded
        self.counters["stale"] += result.stale
        mt_lines(submission.outcome() for submission in batch)  # committed: one line per MT
        if not self._running:
            return
        if self._resolved:
            self._schedule_flush(
                0 if self._unresolved == 0 else self.config.record_max_wait_ms / 1000
            )
        self._schedule_round(0 if self._backlog else self.config.poll_interval_s)

    def _record_failed(self, failure: Failure, batch: list[_Submission]) -> None:
        self._writing = None
        self._record_failures += 1
        log.failure("recording {count} send outcomes failed", failure, count=len(batch))
        if not self._running or self._record_failures > _MAX_RECORD_RETRIES:
            # The rows stay in_flight; the sweeper re-queues them (at-least-once).
            log.error(
                "giving up on {count} send outcomes; the sweeper re-queues them", count=len(batch)
            )
            self._held -= sum(submission.held for submission in batch)
            self._record_failures = 0
            return
        self._resolved[:0] = batch
        self._schedule_flush(_RECORD_RETRY_S)
