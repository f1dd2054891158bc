"""Prometheus metrics and health for the daemon: `registry` (one CollectorRegistry per Daemon and the
counters its hooks move), `collectors` (binds and queues, read at scrape time), `queues` (the periodic
queue snapshot), `health` (live and ready), `wiring` (connects them to a built Daemon)."""
