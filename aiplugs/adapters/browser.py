"""``aiplugs browser``: an installed browser on a throwaway profile that goes through aiplugs and trusts its CA.

Chromium family: ``--user-data-dir`` (a fresh folder under ``<state_dir>/browser/``), the proxy (by default the
PAC file, so only matched hosts use it; ``--all`` sends everything), and ``--ignore-certificate-errors-spki-list``
with the SPKI sha256 of the aiplugs CA. Chromium honours that flag only together with ``--user-data-dir``, so the
CA is trusted by that profile alone: the system trust store and the person's everyday profile stay untouched.
(mitmproxy signs its leaf certificates with the CA's own key pair, so the leaf presents the same SPKI.)

Firefox: a profile with the proxy preferences and, when NSS's ``certutil`` is installed, the CA imported into
that profile's own certificate database.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

from ..errors import AiplugsError

__all__ = ["Browser", "BrowserLaunch", "find_browser", "launch", "plan_launch", "spki_sha256"]

Kind = Literal["chromium", "firefox"]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome",
                  "microsoft-edge", "brave-browser")
MAC_APPS = {
    "chromium": "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "google-chrome": "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "firefox": "/Applications/Firefox.app/Contents/MacOS/firefox",
}
CHOICES = {"chromium": ("chromium", "chromium-browser"), "chrome": ("google-chrome", "google-chrome-stable", "chrome"),
           "firefox": ("firefox",)}
CA_NICKNAME = "aiplugs local proxy CA"


@dataclass(frozen=True)
class Browser:
    kind: Kind
    path: str


@dataclass(frozen=True)
class BrowserLaunch:
    """What will run: the command line, the throwaway profile, and anything to tell the person first."""

    browser: Browser
    argv: tuple[str, ...]
    profile: Path
    notes: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)  # profile-relative path -> content, written before start


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found is None and name in MAC_APPS and Path(MAC_APPS[name]).exists():
        found = MAC_APPS[name]
    return found


def find_browser(choice: str | None = None) -> Browser:
    """``choice``: None (the first installed Chromium-family browser, else Firefox), a name, or a path."""
    if choice and (os.sep in choice or Path(choice).is_file()):
        if not Path(choice).is_file():
            raise AiplugsError(f"no browser at {choice}")
        return Browser("firefox" if "firefox" in Path(choice).name.lower() else "chromium", choice)
    if choice and choice not in CHOICES:
        raise AiplugsError(f"unknown browser {choice!r}: use chromium, chrome, firefox or a path")
    names = CHOICES[choice] if choice else (*CHROMIUM_NAMES, "firefox")
    for name in names:
        path = _which(name)
        if path:
            return Browser("firefox" if name == "firefox" else "chromium", path)
    wanted = choice or "a browser"
    raise AiplugsError(
        f"{wanted} was not found on PATH. Install one, e.g. `sudo apt-get install chromium` (Debian/Ubuntu), "
        "`brew install --cask chromium` (macOS), Google Chrome or Firefox from their sites, or pass "
        "--browser /path/to/browser")


def spki_sha256(cert_pem: Path) -> str:
    """Base64 of the sha256 of the certificate's SubjectPublicKeyInfo: what Chromium's SPKI list takes."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    cert = x509.load_pem_x509_certificate(Path(cert_pem).read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def plan_launch(browser: Browser, *, url: str, profile: Path, ca_cert: Path, pac_url: str | None,
                proxy: tuple[str, int], everything: bool = False, extra: Sequence[str] = ()) -> BrowserLaunch:
    """The command line and profile files for one browser session (pure apart from reading the CA)."""
    if browser.kind == "firefox":
        return _firefox(browser, url=url, profile=profile, pac_url=pac_url, proxy=proxy, everything=everything,
                        extra=extra)
    argv = [browser.path, f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
            # HTTP/3 goes around an HTTP proxy; loopback pages go through it too (the PAC still decides)
            "--disable-quic", "--proxy-bypass-list=<-loopback>",
            f"--ignore-certificate-errors-spki-list={spki_sha256(ca_cert)}"]
    if everything or pac_url is None:
        argv.append(f"--proxy-server=http://{_hostport(proxy)}")
    else:
        argv.append(f"--proxy-pac-url={pac_url}")
    notes = []
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox
        notes.append("running as root: Chromium's sandbox is off for this profile")
    argv += [*extra, url]
    return BrowserLaunch(browser, tuple(argv), profile, tuple(notes))


def _firefox(browser: Browser, *, url: str, profile: Path, pac_url: str | None, proxy: tuple[str, int],
             everything: bool, extra: Sequence[str]) -> BrowserLaunch:
    prefs = {"browser.shell.checkDefaultBrowser": False, "browser.startup.homepage_override.mstone": "ignore",
             "datareporting.policy.dataSubmissionEnabled": False, "network.proxy.allow_hijacking_localhost": True,
             "network.http.http3.enable": False}
    if everything or pac_url is None:
        host, port = proxy
        prefs.update({"network.proxy.type": 1, "network.proxy.http": host, "network.proxy.http_port": port,
                      "network.proxy.ssl": host, "network.proxy.ssl_port": port,
                      "network.proxy.no_proxies_on": ""})
    else:
        prefs.update({"network.proxy.type": 2, "network.proxy.autoconfig_url": pac_url})
    user_js = "".join(f"user_pref({_js(k)}, {_js(v)});\n" for k, v in prefs.items())
    notes = []
    if shutil.which("certutil") is None:
        notes.append("certutil (libnss3-tools / nss) is not installed, so this Firefox profile does not trust the "
                     "aiplugs CA: HTTPS pages will show a certificate warning. Install it, or use a Chromium-"
                     "family browser (--browser chromium)")
    argv = (browser.path, "-no-remote", "-profile", str(profile), *extra, url)
    return BrowserLaunch(browser, argv, profile, tuple(notes), {"user.js": user_js})


def _js(value: object) -> str:
    import json

    return json.dumps(value)


def _hostport(address: tuple[str, int]) -> str:
    host = f"[{address[0]}]" if ":" in address[0] else address[0]
    return f"{host}:{address[1]}"


def new_profile(state_dir: Path) -> Path:
    """A fresh folder (mode 0700) under ``<state_dir>/browser/`` for one session."""
    root = state_dir / "browser"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    profile = root / f"profile-{secrets.token_hex(4)}"
    profile.mkdir(mode=0o700)
    return profile


def _import_ca(profile: Path, ca_cert: Path) -> None:
    certutil = shutil.which("certutil")
    if certutil is None:
        return
    db = f"sql:{profile}"
    subprocess.run([certutil, "-N", "-d", db, "--empty-password"], check=True, capture_output=True)
    subprocess.run([certutil, "-A", "-d", db, "-n", CA_NICKNAME, "-t", "C,,", "-i", str(ca_cert)], check=True,
                   capture_output=True)


def launch(plan: BrowserLaunch, *, ca_cert: Path, keep_profile: bool = False) -> int:
    """Runs the browser until it exits (Ctrl-C closes it); the profile folder goes afterwards."""
    try:
        for name, text in plan.files.items():
            (plan.profile / name).write_text(text, encoding="utf-8")
        if plan.browser.kind == "firefox":
            _import_ca(plan.profile, ca_cert)
        try:
            process = subprocess.Popen(plan.argv, stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as e:
            raise AiplugsError(f"cannot start {plan.browser.path}: {e}") from None
        try:
            return process.wait()
        except KeyboardInterrupt:
            return 130
        finally:
            _stop(process)  # also whatever of its group outlived it
    finally:
        if not keep_profile:
            shutil.rmtree(plan.profile, ignore_errors=True)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the browser's process group (renderers, zygote), then SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            process.poll()
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    if process.poll() is None:
        print(f"warning: browser pid {process.pid} did not stop", file=sys.stderr)
