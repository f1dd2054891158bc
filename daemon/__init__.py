"""The smscore service: config, binds, inbox, TranProc, outbox, SMS commands, CLI."""
