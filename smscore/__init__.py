"""SMPP 3.4 protocol library: sans-I/O codec, text encodings, session machine, Twisted protocols."""

__version__ = "0.1.0"
