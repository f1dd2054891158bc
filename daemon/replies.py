"""Reply templates, one table per language. Every language has every key with the same fields
(a test checks it); `render` falls back to English for a language we do not have."""

from string import Formatter

DEFAULT_LANGUAGE = "en"

_EN = {
    "help_index": "{service} commands: {commands}. Send HELP and a command name for more, e.g. HELP {first}.",
    "help_command": "{usage} - {help}.",
    "help_aliases": "Also: {aliases}.",
    "help_example": "Example: {example}",
    "help_unknown": "There is no command {word}. Commands: {commands}.",
    "not_understood": 'Sorry, we did not understand "{word}". Send HELP for the list of commands.',
    "empty": "Your message was empty. Send HELP for the list of commands.",
    "missing_argument": "{label} is missing. Use: {usage}",
    "bad_argument": 'Sorry, "{shown}" is not a valid {label} ({why}). Use: {usage}',
    "bad_secret_argument": "Sorry, that {label} is not valid ({why}). Use: {usage}",
    "too_many_arguments": "Too many words after {keyword}. Use: {usage}",
    "reason_not_digits": "digits only",
    "reason_wrong_length": "wrong number of digits",
    "reason_too_long": "too long",
    "reason_foreign": "local numbers only",
    "reason_invalid": "not a phone number in use",
    "reason_not_a_number": "write it like 1,000.50",
    "reason_too_many_decimals": "at most 2 decimals",
    "reason_zero": "must be more than zero",
    "reason_negative": "must be more than zero",
    "reason_too_large": "too large",
    "reason_pin_format": "4 to 6 digits",
    "reason_reference_format": "letters and digits, up to 20",
    "reason_text_too_long": "too long",
    "arg_phone": "PHONE",
    "arg_amount": "AMOUNT",
    "arg_pin": "PIN",
    "arg_new_pin": "NEWPIN",
    "arg_reference": "REF",
    "arg_word": "COMMAND",
    "arg_text": "TEXT",
    "arg_value": "VALUE",
    "not_registered": "You are not registered for {service}. Visit an agent to open an account. Send HELP for what you can do.",
    "not_allowed": "{keyword} is not available for your account. Send HELP for your commands.",
    "pin_wrong": "Wrong PIN. {remaining} attempt(s) left before your PIN is locked.",
    "pin_locked": "Wrong PIN entered too many times. Your PIN is locked; try again in {minutes} minutes.",
    "pin_not_set": "You have no PIN yet. Visit an agent to set one.",
    "try_later": "Sorry, we could not process your request. Please try again later.",
    "pong": "PONG",
    "balance": "Your {service} balance is {amount}.",
    "repeat": "You sent this message already, so nothing was done again. Our answer was: {reply}",
    "repeat_no_reply": "You sent this message already, so nothing was done again.",
}

_SW = {
    "help_index": "Huduma za {service}: {commands}. Tuma HELP na jina la huduma kujua zaidi, mfano HELP {first}.",
    "help_command": "{usage} - {help}.",
    "help_aliases": "Pia: {aliases}.",
    "help_example": "Mfano: {example}",
    "help_unknown": "Hakuna huduma {word}. Huduma: {commands}.",
    "not_understood": 'Samahani, hatukuelewa "{word}". Tuma HELP kupata orodha ya huduma.',
    "empty": "Ujumbe wako ni tupu. Tuma HELP kupata orodha ya huduma.",
    "missing_argument": "{label} haipo. Tumia: {usage}",
    "bad_argument": 'Samahani, "{shown}" si {label} sahihi ({why}). Tumia: {usage}',
    "bad_secret_argument": "Samahani, {label} si sahihi ({why}). Tumia: {usage}",
    "too_many_arguments": "Maneno mengi mno baada ya {keyword}. Tumia: {usage}",
    "reason_not_digits": "tarakimu tu",
    "reason_wrong_length": "idadi ya tarakimu si sahihi",
    "reason_too_long": "ndefu mno",
    "reason_foreign": "namba za nchini tu",
    "reason_invalid": "si namba ya simu inayotumika",
    "reason_not_a_number": "andika kama 1,000.50",
    "reason_too_many_decimals": "desimali 2 tu",
    "reason_zero": "lazima kiwe zaidi ya sifuri",
    "reason_negative": "lazima kiwe zaidi ya sifuri",
    "reason_too_large": "kubwa mno",
    "reason_pin_format": "tarakimu 4 hadi 6",
    "reason_reference_format": "herufi na tarakimu, hadi 20",
    "reason_text_too_long": "ndefu mno",
    "arg_phone": "NAMBA",
    "arg_amount": "KIASI",
    "arg_pin": "PIN",
    "arg_new_pin": "PIN-MPYA",
    "arg_reference": "KUMB",
    "arg_word": "HUDUMA",
    "arg_text": "UJUMBE",
    "arg_value": "THAMANI",
    "not_registered": "Hujasajiliwa kwenye {service}. Tembelea wakala kufungua akaunti. Tuma HELP kujua unachoweza kufanya.",
    "not_allowed": "{keyword} haipatikani kwa akaunti yako. Tuma HELP kuona huduma zako.",
    "pin_wrong": "PIN si sahihi. Umebakiwa na majaribio {remaining} kabla PIN yako kufungwa.",
    "pin_locked": "PIN imekosewa mara nyingi mno. PIN yako imefungwa; jaribu tena baada ya dakika {minutes}.",
    "pin_not_set": "Bado huna PIN. Tembelea wakala kuweka PIN.",
    "try_later": "Samahani, hatukuweza kushughulikia ombi lako. Tafadhali jaribu tena baadaye.",
    "pong": "PONG",
    "balance": "Salio lako la {service} ni {amount}.",
    "repeat": "Umetuma ujumbe huu tayari, kwa hiyo hakuna kilichofanywa tena. Jibu letu lilikuwa: {reply}",
    "repeat_no_reply": "Umetuma ujumbe huu tayari, kwa hiyo hakuna kilichofanywa tena.",
}

TEMPLATES: dict[str, dict[str, str]] = {"en": _EN, "sw": _SW}
LANGUAGES = tuple(TEMPLATES)


class UnknownTemplate(KeyError):
    pass


def render(language: str, key: str, **fields: object) -> str:
    """The reply `key` in `language` (English if we do not have that language) with its fields."""
    table = TEMPLATES.get(language, TEMPLATES[DEFAULT_LANGUAGE])
    try:
        template = table[key]
    except KeyError:
        raise UnknownTemplate(key) from None
    return template.format(**fields)


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}
