"""Reconciliation reports (`smscore recon …`, daemon.recon.cli): the trust account against the
e-money issued and against the bank's statement, agents' float, the outbox against receipts, what
is still pending, and postings with no source. Each is a daemon.recon.report.Report."""
