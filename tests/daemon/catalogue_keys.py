"""The reply keys one catalogue file holds, in every language: for the tests that measure a flow's
replies with its own worst values."""

from daemon.catalogues import default_catalogues


def keys_in(file_name: str, replies_only: bool = False) -> list[tuple[str, str]]:
    """(language, key) of every entry of `file_name` (e.g. "bills.po"), sorted; `replies_only`
    leaves out help texts and argument labels."""
    sources = default_catalogues().sources
    return sorted(
        (language, key)
        for language, keys in sources.items()
        for key, path in keys.items()
        if path.name == file_name and not (replies_only and key.startswith(("help_", "arg_")))
    )
