"""The benchmark programs, each printing one JSON object (results recorded in BENCHMARKS.md).

Installed with smscore so that `smscore bench e2e` and `smscore bench codec` run from an installed
package; in a source checkout each file also runs as a script (`python benchmarks/e2e.py`).
"""
