"""One mask, one rule for secret-looking names, one for URLs."""

from __future__ import annotations

from aiplugs.util.redact import MASK, is_secret_name, redact, redact_url


def test_urls_lose_credentials_query_and_fragment() -> None:
    assert redact_url("https://u:p@api.example.com:8443/v1/chat?key=1#x") == "https://api.example.com:8443/v1/chat"
    assert redact_url("s3://bucket/a/b.bin") == "s3://bucket/a/b.bin"
    assert redact_url("https://h/p?sig=abc", keep_query=True) == "https://h/p?sig=abc"
    assert redact_url("/a/local/path.bin") == "/a/local/path.bin" and redact_url("http://[::1]:5/x") == "http://[::1]:5/x"


def test_secret_names() -> None:
    for name in ("api_key", "API-KEY", "HF_TOKEN", "password", "Authorization", "AWS_SECRET_ACCESS_KEY", "AUTH",
                 "db_auth", "credentials", "HF_KEY"):
        assert is_secret_name(name), name
    for name in ("key", "keys", "KEYBOARD", "AUTHOR", "filename", "monkey"):
        assert not is_secret_name(name), name


def test_redact_masks_by_name_and_by_value() -> None:
    data = {"api_key": "sk-1", "key": "MODEL_PATH", "nested": [{"note": "uses sk-1 here", "token": ""}]}
    assert redact(data, ["sk-1"]) == {"api_key": MASK, "key": "MODEL_PATH",
                                      "nested": [{"note": f"uses {MASK} here", "token": ""}]}
