"""Where a run's inputs land in the command it parses to. A run template is filled with a sample
value per input, each one distinct, and parsed with the real registry; each input's value must
then be in an argument whose type is the input's kind. `PAY {account} {biller} ...` parses (a
biller number may be digits, an account letters) but would fail every bill payment: the biller's
sample lands in the target's account."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence

import phonenumbers

from daemon.commands.registry import ParsedCommand
from daemon.commands.types import ParseEnv
from daemon.ussd.arg_kinds import KINDS

# Distinct values of each kind, so that two inputs of one run never share a value and a swap shows.
_SAMPLES = {
    "amount": ("100.00", "200.00", "300.00"),
    "pin": ("1234", "2345", "3456"),
    "reference": ("ACC123", "ACC234", "ACC345"),
    "account": ("12345678", "23456789", "34567890"),
    "word": ("WORD", "WORDB", "WORDC"),
    "text": ("note", "notb", "notc"),
    "agent": ("123456", "234567", "345678"),
    "till": ("654321", "765432", "876543"),
    "biller": ("KPLC", "NWSC", "DAWASA"),
}
# The parts of a composite argument (PAY's target, BUY's order) by the kind of input each takes.
_PART_KINDS = {
    "biller": "biller",
    "account": "account",
    "amount_minor": "amount",
    "msisdn": "phone",
    "code": "reference",
}


def sample_value(kind: str, env: ParseEnv, index: int = 0) -> str:
    """A valid value of `kind`, as the engine would put it in a command; the index-th of a few."""
    if kind == "phone":
        number = phonenumbers.example_number_for_type(
            env.numbering.region, phonenumbers.PhoneNumberType.MOBILE
        )
        code = number.country_code if number else 254
        national = phonenumbers.national_significant_number(number) if number else "712345678"
        return f"+{code}{national[:-1]}{(int(national[-1]) + index) % 10}"
    values = _SAMPLES[kind]
    return values[min(index, len(values) - 1)]


def samples_of(names: Sequence[str], kinds: Mapping[str, str], env: ParseEnv) -> dict[str, str]:
    """A distinct sample value for each input name of a run."""
    used: dict[str, int] = {}
    out: dict[str, str] = {}
    for name in dict.fromkeys(names):
        kind = kinds[name]
        out[name] = sample_value(kind, env, used.get(kind, 0))
        used[kind] = used.get(kind, 0) + 1
    return out


def _slots(parsed: ParsedCommand) -> Iterator[tuple[str, frozenset[str], object]]:
    """(where, the input kinds it takes, value) of every argument value, a composite's parts."""
    for arg in parsed.command.args:
        value = parsed.args.get(arg.name)
        if value is None:
            continue
        kinds = frozenset(k.name for k in KINDS.values() if type(k.type) is type(arg.type))
        if kinds or not dataclasses.is_dataclass(value):
            yield arg.name, kinds, value
            continue
        for part in dataclasses.fields(value):
            part_kind = _PART_KINDS.get(part.name)
            kinds = frozenset({part_kind} if part_kind else ())
            yield f"{arg.name}.{part.name}", kinds, getattr(value, part.name)


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _what(kinds: frozenset[str]) -> str:
    return _a(" or ".join(sorted(kinds))) if kinds else "no input's kind"


def landing_problems(
    parsed: ParsedCommand, samples: Mapping[str, str], kinds: Mapping[str, str], env: ParseEnv
) -> list[str]:
    """Each input whose sample value is not in an argument of its kind, as `input {x} lands in
    WHERE (a KIND), not a KIND`."""
    slots = list(_slots(parsed))
    problems = []
    for name, sample in samples.items():
        kind = kinds[name]
        expected, _ = KINDS[kind].type.take([sample], 0, env)
        found = [(where, takes) for where, takes, value in slots if value == expected]
        if any(kind in takes for _, takes in found):
            continue
        if not found:
            problems.append(f"input {{{name}}} lands in no argument, not {_a(kind)}")
            continue
        where, takes = found[0]
        problems.append(f"input {{{name}}} lands in {where} ({_what(takes)}), not {_a(kind)}")
    return problems
