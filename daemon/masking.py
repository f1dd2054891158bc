"""What of an inbox row may be kept once the TranProc has read it: when a PIN was in it (in any
form), the text with every PIN masked and the payload re-encoded to say the same."""

from collections.abc import Iterable
from typing import Protocol

from daemon.commands.normalise import PIN_MASK
from daemon.config import BindConfig
from smscore.text import encode_text


class InboxText(Protocol):
    """The columns of an inbox row that say what its text is and how its payload is coded."""

    @property
    def text(self) -> str: ...
    @property
    def data_coding(self) -> int: ...
    @property
    def bind_name(self) -> str: ...


def stored_form(
    row: InboxText, masked_text: str, binds: Iterable[BindConfig]
) -> tuple[str, bytes] | None:
    """None if the row may stay as the LIS stored it, else the (text, payload) to store instead.
    The payload is in the row's own coding; empty when that coding cannot carry the text (binary
    data, an unsupported data_coding)."""
    if PIN_MASK not in masked_text or masked_text == row.text:
        return None
    alphabet = bind_alphabet(binds, row.bind_name)
    try:
        return masked_text, encode_text(masked_text, row.data_coding, default_alphabet=alphabet)[1]
    except ValueError:
        return masked_text, b""


def bind_alphabet(binds: Iterable[BindConfig], bind_name: str) -> str:
    """What data_coding 0 means on that bind."""
    return next((bind.default_alphabet for bind in binds if bind.name == bind_name), "gsm7")
