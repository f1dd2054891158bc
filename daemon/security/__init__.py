"""Security: one-time passwords (RFC 4226/6238) and the one-time codes sent by SMS."""
