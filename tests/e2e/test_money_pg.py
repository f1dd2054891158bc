"""The money tests whose paths differ on PostgreSQL (the settler's and the sweeper's row locks, the
TranProc's FOR UPDATE of the sender), run again with the daemon on PostgreSQL: the rollback delivered,
undelivered and missing, a repeat, cash in and out, a voucher collected and one returned. The rest
run on SQLite only (test_money.py, test_money_agents.py), for the suite's time budget."""

from collections.abc import Iterator

import pytest

from tests.e2e.money import MoneyService
from tests.e2e.test_money import (  # noqa: F401  (collected here again, on PostgreSQL)
    test_a_repeated_send_is_answered_with_the_first_reply_and_posted_once,
    test_send_delivered_posts_and_tells_the_recipient,
    test_send_whose_confirmation_is_undelivered_is_voided,
    test_send_with_no_receipt_in_time_is_voided,
)
from tests.e2e.test_money_agents import (  # noqa: F401
    test_a_voucher_collected_as_cash_at_an_agent,
    test_an_unclaimed_voucher_returns_to_the_sender,
    test_deposit_moves_float_to_the_wallet_with_commission,
    test_withdraw_pays_the_agent_once_the_confirmation_is_delivered,
)
from tests.pg import postgres_database


@pytest.fixture(scope="module")
def money_service(tmp_path_factory, pg_url) -> Iterator[MoneyService]:
    """conftest's money_service, on a PostgreSQL database of its own."""
    workdir = tmp_path_factory.mktemp("money_pg")
    with postgres_database(pg_url) as url:
        service = MoneyService.start(workdir, url)
        try:
            yield service
        finally:
            assert service.stop() == 0, service.daemon.log()
