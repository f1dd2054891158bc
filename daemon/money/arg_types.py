"""Argument types of the agents' and registration commands: an agent (its phone number or its short
agent number), an identity document number, and digit codes sent by SMS (secret, like PINs)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from daemon.commands.errors import ArgValueError
from daemon.commands.types import MSISDN, ArgType, ParseEnv, TextType

# A short agent number: 4 to 8 digits not starting with 0. A phone number written in groups starts
# with 0, +, or a group of 3 (0712 345 678, 712 345 678, 254 712 ...), so the two never meet.
_AGENT_NUMBER = re.compile(r"[1-9][0-9]{3,7}")
# A national identity card number (6 to 10 digits) or a passport number (1-2 letters, then digits).
_ID_NUMBER = re.compile(r"[A-Z]{0,2}[0-9]{6,10}")


@dataclass(frozen=True, slots=True)
class AgentRef:
    """An agent as the customer wrote it: exactly one of the two is set."""

    msisdn: str | None = None
    agent_number: str | None = None

    @property
    def shown(self) -> str:
        return self.agent_number or self.msisdn or ""


class AgentType(ArgType):
    label = "arg_agent"

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[AgentRef, int]:
        if _AGENT_NUMBER.fullmatch(words[pos]):
            return AgentRef(agent_number=words[pos]), pos + 1
        try:
            msisdn, end = MSISDN.take(words, pos, env)
        except ArgValueError:
            raise ArgValueError("agent_format") from None
        return AgentRef(msisdn=msisdn), end


class IdNumberType(ArgType):
    """An identity document number. Secret: never echoed in a reply, masked in the stored text
    (the subscriber record keeps it)."""

    label = "arg_id_number"
    secret = True
    one_word = True

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[str, int]:
        word = words[pos].upper()
        if not _ID_NUMBER.fullmatch(word):
            raise ArgValueError("id_number_format")
        return word, pos + 1


class DigitCodeType(ArgType):
    """A one-time code of `digits` digits sent by SMS: secret, masked when stored. With `also_pin`
    the same argument may be a PIN instead (PIN <code-or-old-PIN> <new-PIN>)."""

    secret = True
    one_word = True

    def __init__(self, label: str, digits: int, reason: str, also_pin: bool = False) -> None:
        self.label = label
        self.reason = reason
        pattern = rf"[0-9]{{{digits}}}" + (r"|[0-9]{4,6}" if also_pin else "")
        self._pattern = re.compile(pattern)

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[str, int]:
        if not self._pattern.fullmatch(words[pos]):
            raise ArgValueError(self.reason)
        return words[pos], pos + 1


class NameType(TextType):
    """A person's name: the words up to the one-word arguments after it."""

    label = "arg_name"


AGENT = AgentType()
NAME = NameType()
ID_NUMBER = IdNumberType()
