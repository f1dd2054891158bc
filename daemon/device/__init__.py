"""The reference device: what a phone (or SIM) app does on the app channel, in Python. Tests, the
demo and QA use it; it is the specification of the app side (daemon.security.channel is the
protocol both sides share). `state` keeps the keys and counters, `client` talks to the simulator,
`cli` is `smscore device ...`."""
