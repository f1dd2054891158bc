"""A small pure-Python ledger with the same rules, one transfer at a time, for property tests.

Written from the rules (see ledger/transfers.py docstring), not from the batch code: dicts, a
deep copy per linked chain, no deltas, no batching.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from ledger import Account, AccountFlags, Transfer, TransferFlags
from ledger import CreateAccountResult as AR
from ledger import CreateTransferResult as R
from ledger.model import INT64_MAX, NS_PER_S, valid_currency

F = TransferFlags


@dataclass
class ModelAccount:
    currency: str
    code: int
    flags: int
    user_data: str | None
    dp: int = 0
    cp: int = 0
    dpend: int = 0
    cpend: int = 0


@dataclass
class ModelLedger:
    accounts: dict[int, ModelAccount] = field(default_factory=dict)
    transfers: dict[int, dict] = field(default_factory=dict)  # id -> stored fields
    status: dict[int, str] = field(
        default_factory=dict
    )  # pending id -> pending/posted/voided/expired
    expires: dict[int, int | None] = field(default_factory=dict)
    last_ts: int = 0

    # --- accounts -------------------------------------------------------------------------
    def create_account(self, a: Account) -> AR:
        if not 0 < a.id <= INT64_MAX:
            return AR.ID_OUT_OF_RANGE
        both = (
            AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
            | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
        )
        if a.flags & ~both:
            return AR.RESERVED_FLAG
        if a.flags & both == both:
            return AR.FLAGS_ARE_MUTUALLY_EXCLUSIVE
        if not valid_currency(a.currency):
            return AR.INVALID_CURRENCY
        if a.id in self.accounts:
            old = self.accounts[a.id]
            same = (old.currency, old.code, old.flags, old.user_data) == (
                a.currency, a.code, int(a.flags), a.user_data)  # fmt: skip
            return AR.EXISTS if same else AR.EXISTS_WITH_DIFFERENT_FIELDS
        self.accounts[a.id] = ModelAccount(a.currency, a.code, int(a.flags), a.user_data)
        return AR.OK

    # --- transfers ------------------------------------------------------------------------
    def create_transfers(self, batch: list[Transfer], now_ns: int) -> list[R]:
        ts = max(now_ns, self.last_ts)
        results: list[R] = []
        i = 0
        while i < len(batch):
            j = i
            while j < len(batch) and batch[j].flags & F.LINKED:
                j += 1
            if j == len(batch):
                results += [R.LINKED_EVENT_FAILED] * (j - i - 1) + [R.LINKED_EVENT_CHAIN_OPEN]
                break
            results += self._chain(batch[i : j + 1], ts)
            i = j + 1
        if any(r is R.OK for r in results):
            self.last_ts = ts
        return results

    def _chain(self, chain: list[Transfer], ts: int) -> list[R]:
        saved = copy.deepcopy((self.accounts, self.transfers, self.status, self.expires))
        codes: list[R] = []
        for t in chain:
            codes.append(self._one(t, ts))
            if codes[-1] not in (R.OK, R.EXISTS):
                break
        failed = codes[-1] not in (R.OK, R.EXISTS) or (R.OK in codes and R.EXISTS in codes)
        if len(chain) == 1 or not failed:
            return codes
        self.accounts, self.transfers, self.status, self.expires = saved
        cause = len(codes) - 1 if codes[-1] not in (R.OK, R.EXISTS) else codes.index(R.EXISTS)
        out = [R.LINKED_EVENT_FAILED] * len(chain)
        out[cause] = codes[cause]
        return out

    def _one(self, t: Transfer, ts: int) -> R:
        if not 0 < t.id <= INT64_MAX:
            return R.ID_OUT_OF_RANGE
        if t.flags & ~(
            F.LINKED
            | F.PENDING
            | F.POST_PENDING
            | F.VOID_PENDING
            | F.CLOSING_DEBIT
            | F.CLOSING_CREDIT
        ):
            return R.RESERVED_FLAG
        kinds = [f for f in (F.PENDING, F.POST_PENDING, F.VOID_PENDING) if t.flags & f]
        if len(kinds) > 1:
            return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
        if t.flags & (F.CLOSING_DEBIT | F.CLOSING_CREDIT) and not t.flags & F.PENDING:
            return R.CLOSING_TRANSFER_MUST_BE_PENDING
        if t.id in self.transfers:
            return (
                R.EXISTS if self._same(t, self.transfers[t.id]) else R.EXISTS_WITH_DIFFERENT_FIELDS
            )
        if t.flags & (F.POST_PENDING | F.VOID_PENDING):
            return self._post_or_void(t, ts)
        return self._new(t, ts)

    @staticmethod
    def _same(t: Transfer, s: dict) -> bool:
        if (int(t.flags), t.pending_id, t.timeout_s, t.user_data) != (
            s["flags"], s["pending_id"], s["timeout_s"], s["user_data"]):  # fmt: skip
            return False
        names = ("debit", "credit", "amount", "currency", "code")
        mine = (t.debit_account_id, t.credit_account_id, t.amount, t.currency, t.code)
        if t.flags & (F.POST_PENDING | F.VOID_PENDING):
            return all(v in (0, "", s[n]) for n, v in zip(names, mine, strict=True))
        return mine == tuple(s[n] for n in names)

    def _field_errors(self, t: Transfer) -> R | None:
        if t.amount < 0:
            return R.AMOUNT_MUST_NOT_BE_NEGATIVE
        if t.amount > INT64_MAX:
            return R.AMOUNT_OVERFLOWS
        if not 0 <= t.code < 2**31:
            return R.CODE_OUT_OF_RANGE
        if t.user_data is not None and len(t.user_data) > 64:
            return R.USER_DATA_TOO_LONG
        return None

    def _new(self, t: Transfer, ts: int) -> R:
        pending = bool(t.flags & F.PENDING)
        error = self._new_field_error(t, pending)
        if error:
            return error
        d, c = self.accounts.get(t.debit_account_id), self.accounts.get(t.credit_account_id)
        if d is None:
            return R.DEBIT_ACCOUNT_NOT_FOUND
        if c is None:
            return R.CREDIT_ACCOUNT_NOT_FOUND
        if d.currency != c.currency:
            return R.ACCOUNTS_MUST_HAVE_THE_SAME_CURRENCY
        if t.currency != d.currency:
            return R.TRANSFER_MUST_HAVE_THE_SAME_CURRENCY_AS_ACCOUNTS
        if d.flags & AccountFlags.CLOSED:
            return R.DEBIT_ACCOUNT_ALREADY_CLOSED
        if c.flags & AccountFlags.CLOSED:
            return R.CREDIT_ACCOUNT_ALREADY_CLOSED
        expires = ts + t.timeout_s * NS_PER_S if pending and t.timeout_s else None
        if expires is not None and expires > INT64_MAX:
            return R.TIMEOUT_OUT_OF_RANGE
        a = t.amount
        error = self._limit_error(d, c, a, pending)
        if error:
            return error
        if pending:
            d.dpend += a
            c.cpend += a
            if t.flags & F.CLOSING_DEBIT:
                d.flags |= AccountFlags.CLOSED
            if t.flags & F.CLOSING_CREDIT:
                c.flags |= AccountFlags.CLOSED
            self.status[t.id] = "pending"
            self.expires[t.id] = expires
        else:
            d.dp += a
            c.cp += a
        self._store(t, t.debit_account_id, t.credit_account_id, a, t.currency, t.code)
        return R.OK

    def _new_field_error(self, t: Transfer, pending: bool) -> R | None:
        checks = [
            (t.debit_account_id == 0, R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO),
            (t.credit_account_id == 0, R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO),
            (t.debit_account_id == t.credit_account_id, R.ACCOUNTS_MUST_BE_DIFFERENT),
            (t.pending_id != 0, R.PENDING_ID_MUST_BE_ZERO),
            (t.timeout_s != 0 and not pending, R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
            (not 0 <= t.timeout_s <= INT64_MAX // NS_PER_S, R.TIMEOUT_OUT_OF_RANGE),
        ]
        error = next((code for failed, code in checks if failed), None)
        if error:
            return error
        error = self._field_errors(t)
        if error:
            return error
        if t.amount == 0 and not t.flags & (F.CLOSING_DEBIT | F.CLOSING_CREDIT):
            return R.AMOUNT_MUST_NOT_BE_ZERO
        if not valid_currency(t.currency):
            return R.INVALID_CURRENCY
        return None

    @staticmethod
    def _limit_error(d: ModelAccount, c: ModelAccount, a: int, pending: bool) -> R | None:
        limits = [
            (pending and d.dpend + a > INT64_MAX, R.OVERFLOWS_DEBITS_PENDING),
            (pending and c.cpend + a > INT64_MAX, R.OVERFLOWS_CREDITS_PENDING),
            (not pending and d.dp + a > INT64_MAX, R.OVERFLOWS_DEBITS_POSTED),
            (not pending and c.cp + a > INT64_MAX, R.OVERFLOWS_CREDITS_POSTED),
            (d.dp + d.dpend + a > INT64_MAX, R.OVERFLOWS_DEBITS),
            (c.cp + c.cpend + a > INT64_MAX, R.OVERFLOWS_CREDITS),
            (
                d.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and d.dp + d.dpend + a > d.cp,
                R.EXCEEDS_CREDITS,
            ),
            (
                c.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS and c.cp + c.cpend + a > c.dp,
                R.EXCEEDS_DEBITS,
            ),
        ]
        return next((code for failed, code in limits if failed), None)

    def _store(self, t: Transfer, debit, credit, amount, currency, code) -> None:
        self.transfers[t.id] = {
            "debit": debit, "credit": credit, "amount": amount, "currency": currency,
            "code": code, "flags": int(t.flags), "pending_id": t.pending_id,
            "timeout_s": t.timeout_s, "user_data": t.user_data,
        }  # fmt: skip

    def _post_or_void(self, t: Transfer, ts: int) -> R:
        checks = [
            (t.pending_id == 0, R.PENDING_ID_MUST_NOT_BE_ZERO),
            (t.pending_id == t.id, R.PENDING_ID_MUST_BE_DIFFERENT),
            (t.timeout_s != 0, R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
        ]
        for failed, code in checks:
            if failed:
                return code
        error = self._field_errors(t)
        if error:
            return error
        if t.currency and not valid_currency(t.currency):
            return R.INVALID_CURRENCY
        p = self.transfers.get(t.pending_id)
        if p is None:
            return R.PENDING_TRANSFER_NOT_FOUND
        if t.pending_id not in self.status:
            return R.PENDING_TRANSFER_NOT_PENDING
        error = self._pending_mismatch(t, p)
        if error:
            return error
        post = bool(t.flags & F.POST_PENDING)
        amount = t.amount or p["amount"]
        if post and amount > p["amount"]:
            return R.EXCEEDS_PENDING_TRANSFER_AMOUNT
        if not post and amount != p["amount"]:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
        status = self.status[t.pending_id]
        done = {"posted": R.PENDING_TRANSFER_ALREADY_POSTED, "voided": R.PENDING_TRANSFER_ALREADY_VOIDED,
                "expired": R.PENDING_TRANSFER_EXPIRED}  # fmt: skip
        if status in done:
            return done[status]
        expires = self.expires[t.pending_id]
        if expires is not None and expires <= ts:
            return R.PENDING_TRANSFER_EXPIRED
        d, c = self.accounts[p["debit"]], self.accounts[p["credit"]]
        if post and d.dp + amount > INT64_MAX:
            return R.OVERFLOWS_DEBITS_POSTED
        if post and c.cp + amount > INT64_MAX:
            return R.OVERFLOWS_CREDITS_POSTED
        self._release(t.pending_id, reopen=not post)
        if post:
            d.dp += amount
            c.cp += amount
        self.status[t.pending_id] = "posted" if post else "voided"
        self._store(t, p["debit"], p["credit"], amount, p["currency"], p["code"])
        return R.OK

    @staticmethod
    def _pending_mismatch(t: Transfer, p: dict) -> R | None:
        mismatches = [
            (
                t.debit_account_id not in (0, p["debit"]),
                R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID,
            ),
            (
                t.credit_account_id not in (0, p["credit"]),
                R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID,
            ),
            (t.currency not in ("", p["currency"]), R.PENDING_TRANSFER_HAS_DIFFERENT_CURRENCY),
            (t.code not in (0, p["code"]), R.PENDING_TRANSFER_HAS_DIFFERENT_CODE),
        ]
        return next((code for failed, code in mismatches if failed), None)

    def _release(self, pending_id: int, reopen: bool) -> None:
        p = self.transfers[pending_id]
        d, c = self.accounts[p["debit"]], self.accounts[p["credit"]]
        d.dpend -= p["amount"]
        c.cpend -= p["amount"]
        if reopen and p["flags"] & F.CLOSING_DEBIT:
            d.flags &= ~AccountFlags.CLOSED
        if reopen and p["flags"] & F.CLOSING_CREDIT:
            c.flags &= ~AccountFlags.CLOSED

    def expire(self, now_ns: int) -> list[int]:
        ts = max(now_ns, self.last_ts)
        due = sorted(
            pid
            for pid, status in self.status.items()
            if status == "pending" and self.expires[pid] is not None and self.expires[pid] <= ts
        )
        for pid in due:
            self._release(pid, reopen=True)
            self.status[pid] = "expired"
        return due
