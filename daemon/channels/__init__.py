"""Each app subscriber's private, ordered, durable event channel (Midships' Mobile Message Broker,
built into the engine): events written in the posting's own transaction, numbered without gaps per
channel, encrypted with the subscriber's channel key, pulled and streamed over HTTP by the
subscriber's devices (each at its own position), and a short app-port SMS to pull when a device has
been away."""
