"""What `aiplugs browser` runs: command lines and profiles as plain values (the real run is in tests/e2e)."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from aiplugs.adapters.browser import Browser, find_browser, new_profile, plan_launch, spki_sha256
from aiplugs.errors import AiplugsError

from .proxy.servers import make_test_ca


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> Path:
    return make_test_ca(tmp_path_factory.mktemp("ca")).ca_cert


def test_spki_hash_is_the_base64_sha256_of_the_public_key(ca: Path) -> None:
    key = x509.load_pem_x509_certificate(ca.read_bytes()).public_key()
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert spki_sha256(ca) == base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_chromium_uses_the_pac_file_a_private_profile_and_trusts_the_ca_there_only(ca: Path, tmp_path: Path) -> None:
    plan = plan_launch(Browser("chromium", "/usr/bin/chromium"), url="https://en.wikipedia.org/", profile=tmp_path,
                       ca_cert=ca, pac_url="http://127.0.0.1:5000/proxy.pac", proxy=("127.0.0.1", 8080))
    argv = list(plan.argv)
    assert argv[0] == "/usr/bin/chromium" and argv[-1] == "https://en.wikipedia.org/"
    assert f"--user-data-dir={tmp_path}" in argv
    assert "--proxy-pac-url=http://127.0.0.1:5000/proxy.pac" in argv
    assert not any(a.startswith("--proxy-server") for a in argv)
    assert f"--ignore-certificate-errors-spki-list={spki_sha256(ca)}" in argv
    assert "--disable-quic" in argv


def test_all_sends_everything_to_the_proxy_and_extra_arguments_come_before_the_url(ca: Path, tmp_path: Path) -> None:
    plan = plan_launch(Browser("chromium", "chrome"), url="about:blank", profile=tmp_path, ca_cert=ca,
                       pac_url="http://x/proxy.pac", proxy=("::1", 8080), everything=True, extra=["--incognito"])
    assert "--proxy-server=http://[::1]:8080" in plan.argv
    assert not any(a.startswith("--proxy-pac-url") for a in plan.argv)
    assert plan.argv[-2:] == ("--incognito", "about:blank")


def test_firefox_gets_prefs_in_its_profile(ca: Path, tmp_path: Path) -> None:
    plan = plan_launch(Browser("firefox", "/usr/bin/firefox"), url="https://example.org/", profile=tmp_path,
                       ca_cert=ca, pac_url="http://127.0.0.1:5000/proxy.pac", proxy=("127.0.0.1", 8080))
    assert plan.argv == ("/usr/bin/firefox", "-no-remote", "-profile", str(tmp_path), "https://example.org/")
    prefs = plan.files["user.js"]
    assert 'user_pref("network.proxy.type", 2);' in prefs
    assert 'user_pref("network.proxy.autoconfig_url", "http://127.0.0.1:5000/proxy.pac");' in prefs
    manual = plan_launch(Browser("firefox", "ff"), url="u", profile=tmp_path, ca_cert=ca, pac_url=None,
                         proxy=("127.0.0.1", 8080)).files["user.js"]
    assert 'user_pref("network.proxy.ssl_port", 8080);' in manual and 'network.proxy.type", 1)' in manual


def test_missing_browsers_name_what_to_install(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AiplugsError, match="apt-get install chromium"):
        find_browser()
    with pytest.raises(AiplugsError, match="unknown browser 'netscape'"):
        find_browser("netscape")
    with pytest.raises(AiplugsError, match="no browser at"):
        find_browser(str(tmp_path / "nope" / "chrome"))
    fake = tmp_path / "firefox-esr"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_browser(str(fake)) == Browser("firefox", str(fake))


def test_profiles_are_fresh_private_folders(tmp_path: Path) -> None:
    first, second = new_profile(tmp_path), new_profile(tmp_path)
    assert first != second and first.parent == tmp_path / "browser"
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o700
