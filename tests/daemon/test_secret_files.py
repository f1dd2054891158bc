"""One reader of the "32 random bytes in hex, owner-only" secret files (daemon.secret_files), used
by the channel keys and the callback key (review 15, finding 24)."""

from __future__ import annotations

import pytest

from daemon.secret_files import SecretFileError, load_or_create_hex_secret, read_hex_secret


def test_made_once_then_read_back(tmp_path) -> None:
    path = tmp_path / "dir" / "key"
    first = load_or_create_hex_secret(path, "test key")
    assert len(first) == 32 and path.stat().st_mode & 0o077 == 0
    assert load_or_create_hex_secret(path, "test key") == first == read_hex_secret(path, "test key")


@pytest.mark.parametrize(
    ("text", "mode", "problem"),
    [("ab" * 32, 0o644, "owner only"), ("zz", 0o600, "not hex"), ("ab" * 8, 0o600, "not 32 bytes"),
     ("\u00e9", 0o600, "cannot read")],
)  # fmt: skip
def test_a_bad_file_is_one_line_naming_it(tmp_path, text, mode, problem) -> None:
    path = tmp_path / "key"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    with pytest.raises(SecretFileError, match=problem) as raised:
        read_hex_secret(path, "test key")
    assert str(raised.value).startswith(f"{path}: ") and "\n" not in str(raised.value)
    assert text not in str(raised.value) or text == "zz"


def test_the_channel_and_callback_keys_use_it(tmp_path) -> None:
    from daemon.api import callback_keys
    from daemon.channels import keys

    (tmp_path / "k").write_text("zz")
    (tmp_path / "k").chmod(0o600)
    with pytest.raises(keys.ChannelKeyError, match="channel token key is not hex"):
        keys.read_key(tmp_path / "k", "channel token key")
    with pytest.raises(callback_keys.CallbackKeyError, match="callback key is not hex"):
        callback_keys.read_master_key(tmp_path / "k")
    assert issubclass(keys.ChannelKeyError, SecretFileError)
    assert issubclass(callback_keys.CallbackKeyError, SecretFileError)
