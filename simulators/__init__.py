"""Black-box SMPP peers for QA: SMSC simulator, virtual subscribers, load generator, faults."""
