"""`smscore chaos`: reliability proved by a seeded run of load, faults and SIGKILLs against the real
daemon, judged by an independent model (see daemon/chaos/cli.py, model.py and verdict.py)."""
