"""The reply catalogues in daemon/locale: complete in every language, GSM-7, and loaded strictly."""

import re
import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from daemon import catalogues, replies
from daemon.catalogues import (
    LOCALE_DIR,
    CatalogueError,
    catalogue_problems,
    default_catalogues,
    load_catalogues,
    parse_catalogue,
)
from daemon.commands.builtin import default_registry
from daemon.commands.context import Reply
from daemon.commands.registry import DeclarationError
from smscore.text import gsm7_septet_length

HEADER = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
SINGLE_SMS_SEPTETS = 160
ENTRY_COMMENTS = re.compile(r'^(?P<comments>(?:#.*\n)*)msgid "(?P<key>[a-z0-9_]+)"', re.MULTILINE)


def entry(key: str, text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'msgid "{key}"\nmsgstr "{escaped}"\n\n'


def write(path: Path, *entries: str, header: str = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "".join(entries), encoding="utf-8")
    return path


def shipped_copy(tmp_path: Path) -> Path:
    """A copy of daemon/locale to break without touching the real one."""
    return Path(shutil.copytree(LOCALE_DIR, tmp_path / "locale"))


# --- the shipped catalogues


def test_every_catalogue_has_exactly_the_english_keys_with_the_same_fields():
    problems = catalogue_problems(default_catalogues())
    assert not problems, "\n".join(problems)


def test_languages_are_the_directories_english_first():
    found = sorted(p.name for p in LOCALE_DIR.iterdir() if p.is_dir())
    assert replies.LANGUAGES[0] == replies.DEFAULT_LANGUAGE == "en"
    assert sorted(replies.LANGUAGES) == found
    assert {"en", "sw"} <= set(replies.LANGUAGES)
    assert replies.language_names()["en"] == "English"
    assert replies.language_names()["sw"] == "Kiswahili"


def test_every_template_is_gsm7_and_a_plain_one_fits_one_sms():
    for language, table in default_catalogues().tables.items():
        for key, template in table.items():
            septets = gsm7_septet_length(template)  # raises if a character is not GSM-7
            if not replies.template_fields(template):
                assert septets <= SINGLE_SMS_SEPTETS, (language, key)


def test_every_template_with_fields_is_flagged_python_brace_format():
    # For translators' tools. Babel drops the flag on reading (it looks for braces in the msgid,
    # which is our key), so the comment lines above each msgid are read here.
    for path in sorted(LOCALE_DIR.glob("*/*.po")):
        text = path.read_text(encoding="utf-8")
        comments = {m["key"]: m["comments"] for m in ENTRY_COMMENTS.finditer(text)}
        with path.open("rb") as file:
            for message in read_po(file):
                if message.id and replies.template_fields(str(message.string)):
                    flags = comments.get(message.id, "")
                    assert "#, python-brace-format" in flags, (str(path), message.id)


def test_render_fills_fields_and_falls_back_to_english_for_an_unknown_language():
    assert replies.render("sw", "balance", service="Pesa", amount="KES 5.00") == (
        "Salio lako la Pesa ni KES 5.00."
    )
    assert replies.render("xx", "pong") == replies.render("en", "pong") == "PONG"
    with pytest.raises(replies.UnknownTemplate):
        replies.render("en", "no_such_key")


def test_a_key_a_language_lacks_is_answered_in_english(tmp_path, monkeypatch):
    root = tmp_path / "locale"
    write(root / "en" / "core.po", entry("hello", "Hello {name}"), entry("bye", "Bye"))
    write(root / "sw" / "core.po", entry("hello", "Habari {name}"))
    monkeypatch.setattr(replies, "default_catalogues", lambda: load_catalogues(root))
    assert replies.render("sw", "hello", name="Asha") == "Habari Asha"
    assert replies.render("sw", "bye") == "Bye"


# --- the completeness check catches what is missing


def test_problems_name_a_missing_key_an_extra_key_and_a_changed_field(tmp_path):
    root = shipped_copy(tmp_path)
    sw = root / "sw" / "core.po"
    text = sw.read_text(encoding="utf-8")
    text = text.replace('msgid "pong"\nmsgstr "PONG"\n', "")
    text = text.replace("Salio lako la {service} ni {amount}.", "Salio lako ni {kiasi}.")
    write(root / "sw" / "extra.po", entry("only_swahili", "Habari"))
    sw.write_text(text, encoding="utf-8")
    problems = catalogue_problems(load_catalogues(root))
    assert problems == [
        "sw: missing pong",
        f"sw: only_swahili in {root / 'sw' / 'extra.po'} is not in English",
        "sw: balance has fields ['kiasi'], English ['amount', 'service']",
    ]


def test_a_fuzzy_or_empty_translation_counts_as_missing(tmp_path):
    root = tmp_path / "locale"
    write(root / "en" / "core.po", entry("a", "A"), entry("b", "B"))
    write(root / "sw" / "core.po", '#, fuzzy\nmsgid "a"\nmsgstr "A?"\n\n', entry("b", ""))
    loaded = load_catalogues(root)
    assert loaded.tables["sw"] == {}
    path = root / "sw" / "core.po"
    assert catalogue_problems(loaded) == [
        f"sw: a in {path} is fuzzy or empty",
        f"sw: b in {path} is fuzzy or empty",
        "sw: missing a",
        "sw: missing b",
    ]


# --- loading


def test_all_files_of_a_language_are_merged_and_a_new_language_is_found(tmp_path):
    root = tmp_path / "locale"
    write(root / "en" / "core.po", entry("a", "A"))
    write(root / "en" / "money.po", entry("b", "B {amount}"))
    write(root / "fr" / "core.po", entry("a", "A fr"))
    loaded = load_catalogues(root)
    assert loaded.languages == ("en", "fr")
    assert loaded.tables["en"] == {"a": "A", "b": "B {amount}"}
    assert catalogue_problems(loaded) == ["fr: missing b"]


def test_the_same_key_in_two_files_of_a_language_fails_naming_both(tmp_path):
    root = tmp_path / "locale"
    core = write(root / "en" / "core.po", entry("a", "A"))
    money = write(root / "en" / "money.po", entry("a", "A again"))
    with pytest.raises(CatalogueError) as raised:
        load_catalogues(root)
    message = str(raised.value)
    assert "\n" not in message
    assert message == f"en: key a is in both {core} and {money}"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('msgid "a"\nmsgstr "unclosed\n', ":6: unexpected line"),
        ("just some words\n", ":5: unexpected line"),
        ('msgstr "no msgid"\n', ":5: unexpected line"),
        ('msgid "a"\n', "the last msgid has no msgstr"),
        ('msgid "a"\nmsgid "b"\nmsgstr "B"\n', ":6: unexpected line"),
        ('msgid "a"\nmsgstr "A"\n\nmsgid "a"\nmsgstr "B"\n', ":8: key a already at line 5"),
        ('msgctxt "c"\nmsgid "a"\nmsgstr "A"\n', ":5: unexpected line"),
        ('msgid "a"\nmsgid_plural "as"\nmsgstr[0] "A"\n', ":6: unexpected line"),
        ('msgid "Hello"\nmsgstr "A"\n', "keys are lower_case_words"),
        ('msgid "a"\nmsgstr "{0} left"\n', "a: placeholder {0} must be a plain name"),
        ('msgid "a"\nmsgstr "{amount"\n', "a: expected '}'"),
    ],
)
def test_a_malformed_file_fails_naming_the_file(tmp_path, body, problem):
    root = tmp_path / "locale"
    path = write(root / "en" / "core.po", body)
    with pytest.raises(CatalogueError) as raised:
        load_catalogues(root)
    message = str(raised.value)
    assert message.startswith(str(path)) and problem in message and "\n" not in message


def test_a_file_that_is_not_utf8_fails_naming_it(tmp_path):
    path = tmp_path / "locale" / "en" / "core.po"
    path.parent.mkdir(parents=True)
    path.write_bytes(HEADER.encode() + b'msgid "a"\nmsgstr "\xff"\n')
    with pytest.raises(CatalogueError, match="cannot read as UTF-8") as raised:
        load_catalogues(tmp_path / "locale")
    assert str(raised.value).startswith(str(path))


@pytest.mark.parametrize(
    ("layout", "problem"),
    [
        ({"sw/core.po": "a"}, "no en/ directory"),
        ({"en/core.po": "a", "Swahili/core.po": "a"}, "2 or 3 letter code"),
        ({"en/core.po": "a", "sw/notes.txt": "a"}, "no .po files"),
    ],
)
def test_a_bad_layout_fails_naming_the_directory(tmp_path, layout, problem):
    root = tmp_path / "locale"
    for name, key in layout.items():
        write(root / name, entry(key, "text"))
    with pytest.raises(CatalogueError, match=problem):
        load_catalogues(root)


po_fragments = st.sampled_from(
    [
        'msgid "a"',
        'msgstr "A {x}"',
        'msgid "b"',
        'msgstr ""',
        '"more"',
        "#, fuzzy",
        "",
        '"',
        "{",
        "x",
    ]
)


@given(st.lists(po_fragments | st.text(max_size=20), max_size=12))
def test_any_text_loads_or_fails_with_a_catalogue_error(lines):
    try:
        entries, fuzzy = parse_catalogue(Path("x.po"), "\n".join(lines))
    except CatalogueError as exc:
        assert str(exc).startswith("x.po")
    else:
        assert not set(entries) & set(fuzzy)
        for template in entries.values():
            replies.template_fields(template)  # every loaded template formats


# --- command help comes from the catalogue


def test_builtin_help_texts_come_from_the_catalogue():
    registry = default_registry()
    bal = registry.lookup("BAL")
    assert bal.help == {} and bal.help_key == "help_bal"
    for language in replies.LANGUAGES:
        description = replies.render(language, "help_bal")
        assert registry.help_command(bal, language).startswith(f"BAL PIN - {description}.")


def test_a_command_with_no_help_anywhere_is_refused_at_declaration():
    with pytest.raises(DeclarationError, match="no help text: add help_zzz to daemon/locale/en/"):
        default_registry().command("ZZZ")(lambda ctx, args: Reply("ok"))


def test_a_help_key_with_placeholders_is_refused():
    # help_index is a reply with fields, not a command's help: a command INDEX must bring its own.
    with pytest.raises(DeclarationError, match="help_index has placeholders"):
        default_registry().command("INDEX")(lambda ctx, args: Reply("ok"))


def test_catalogues_are_read_once():
    assert catalogues.default_catalogues() is catalogues.default_catalogues()
