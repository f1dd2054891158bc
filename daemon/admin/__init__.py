"""Staff administration (`smscore admin …`): agent stores, assistants, e-float, subscriber state, and
the audit log every change is recorded in."""
