"""`smscore admin business deposit CODE AMOUNT`: e-money issued into a business's wallet from the
trust account, audited with its bank reference; refusals are one line and move nothing."""

from __future__ import annotations

from daemon.chart import wallet_account_id
from daemon.money.reconcile import reconcile_txn
from ledger import check_ledger, get_balance
from tests.daemon.test_admin_businesses import MERCHANT, add, cli  # noqa: F401 (the fixture)
from tests.daemon.test_admin_cli import audit_rows, one_line_refusal


def _available(engine) -> int:
    with engine.begin() as conn:
        found = get_balance(conn, wallet_account_id(MERCHANT))
        return found.available if found is not None else 0


def test_deposit_issues_e_money_into_the_business_wallet(cli, engine):  # noqa: F811
    assert add(cli).exit_code == 0
    done = cli(
        "business", "deposit", "acme", "100,000", "--reference", "BANK-7731", "--actor", "ops"
    )
    assert done.exit_code == 0, done.output
    assert "issued KES 100,000.00 into ACME's wallet" in done.output
    assert "balance now KES 100,000.00" in done.output
    assert _available(engine) == 10_000_000
    deposit = audit_rows(engine)[-1]
    assert deposit["action"] == "business.deposit" and "BANK-7731" in deposit["detail"]
    with engine.begin() as conn:
        assert check_ledger(conn).ok
        assert reconcile_txn(conn).ok


def test_deposit_refusals_move_nothing(cli, engine):  # noqa: F811
    assert add(cli).exit_code == 0
    before = len(audit_rows(engine))
    one_line_refusal(cli("business", "deposit", "NOPE", "10", "--actor", "ops"), "no business NOPE")
    one_line_refusal(cli("business", "deposit", "ACME", "0", "--actor", "ops"), "AMOUNT")
    one_line_refusal(
        cli("business", "deposit", "ACME", "5", "--reference", "x" * 65, "--actor", "ops"),
        "--reference",
    )
    assert _available(engine) == 0
    assert len(audit_rows(engine)) == before
