"""Testing aids for code built on the ledger; nothing in the ledger or the smscore service uses them.

`ledger.testing.postgres` starts a throwaway PostgreSQL cluster. It ships in the package (rather
than living with the tests) so that anything that runs the ledger against a real PostgreSQL can
start one: the project's own test suite (tests/pg.py), the ledger benchmark (benchmarks/ledger.py),
and the test suites of applications that use the ledger as a library.
"""
