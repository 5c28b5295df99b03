"""The proxy's CA certificate: where it lives, its fingerprint, how to trust it, and installing it on Debian.

mitmproxy creates the CA in its ``confdir`` (``<state_dir>/ca``) on first start; ``ensure_ca`` creates it early
so ``aiplugs cert`` works before the proxy ever ran. aiplugs never changes system proxy settings: a crashed
daemon cannot leave the machine offline, and trusting the CA is always the user's explicit step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["CA_CERT_FILE", "InstallStep", "ca_dir", "ensure_ca", "fingerprint", "install_steps",
           "run_install", "trust_instructions"]

CA_CERT_FILE = "mitmproxy-ca-cert.pem"
CA_NAME = "aiplugs local proxy CA"
DEBIAN_ANCHOR = Path("/usr/local/share/ca-certificates/aiplugs-ca.crt")


def ca_dir(state_dir: Path) -> Path:
    """The proxy's confdir (the daemon passes the same folder to ProxyServer)."""
    return Path(state_dir) / "ca"


def ensure_ca(confdir: Path) -> Path:
    """The CA certificate path, creating the CA (key mode 0600) the way mitmproxy would on first start."""
    path = Path(confdir) / CA_CERT_FILE
    if not path.exists():
        from mitmproxy import certs

        Path(confdir).mkdir(parents=True, exist_ok=True, mode=0o700)
        certs.CertStore.from_store(str(confdir), "mitmproxy", 2048)
    return path


def fingerprint(cert_path: Path) -> str:
    """SHA-256 of the DER certificate, as colon-separated upper-case hex (what browsers show)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def trust_instructions(cert_path: Path) -> str:
    p = str(cert_path)
    return f"""\
To let browsers accept pages the aiplugs proxy decrypts, trust this CA (only on this machine, only for yourself):

Linux, system store (curl, Python, most tools)
  Debian/Ubuntu:  sudo cp {p} {DEBIAN_ANCHOR} && sudo update-ca-certificates
  Fedora/RHEL:    sudo cp {p} /etc/pki/ca-trust/source/anchors/aiplugs-ca.pem && sudo update-ca-trust
  Arch:           sudo trust anchor --store {p}
Linux, Chromium/Chrome (NSS, per user; needs certutil from libnss3-tools / nss-tools)
  certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n "{CA_NAME}" -i {p}
Linux, Firefox (per profile)
  certutil -d sql:$HOME/.mozilla/firefox/<profile> -A -t "C,," -n "{CA_NAME}" -i {p}
  or Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import
macOS
  sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {p}
Windows (PowerShell as administrator)
  Import-Certificate -FilePath "{p}" -CertStoreLocation Cert:\\LocalMachine\\Root
  or: certutil -addstore -f Root "{p}"

`aiplugs cert --install` does the Linux steps on Debian/Ubuntu. aiplugs never changes your proxy settings:
point the browser at the proxy yourself (e.g. chromium --proxy-server=http://127.0.0.1:<port>)."""


@dataclass(frozen=True)
class InstallStep:
    description: str
    argv: tuple[str, ...]


def _nss_databases(home: Path) -> list[Path]:
    found = []
    chromium = home / ".pki" / "nssdb"
    if chromium.is_dir():
        found.append(chromium)
    for pattern in (".mozilla/firefox/*", "snap/firefox/common/.mozilla/firefox/*"):
        found.extend(p for p in home.glob(pattern) if (p / "cert9.db").exists())
    return found


def install_steps(cert_path: Path, *, home: Path | None = None, as_root: bool | None = None) -> list[InstallStep]:
    """What ``--install`` will run on Debian/Ubuntu, in order (shown to the user before anything happens)."""
    home = Path.home() if home is None else home
    as_root = (os.geteuid() == 0) if as_root is None else as_root
    sudo: tuple[str, ...] = () if as_root else ("sudo",)
    steps = [
        InstallStep(f"copy the CA to {DEBIAN_ANCHOR}", (*sudo, "install", "-m", "0644", str(cert_path),
                                                           str(DEBIAN_ANCHOR))),
        InstallStep("rebuild the system trust store", (*sudo, "update-ca-certificates")),
    ]
    if shutil.which("certutil"):
        for db in _nss_databases(home):
            steps.append(InstallStep(f"trust it in the NSS database {db}",
                                     ("certutil", "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", CA_NAME,
                                      "-i", str(cert_path))))
    return steps


def run_install(steps: Sequence[InstallStep], *, echo: Callable[[str], None] = print,
                run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> int:
    """Runs the steps, stopping at the first failure; returns a process exit code."""
    if not Path("/etc/debian_version").exists():
        echo("error: --install supports Debian/Ubuntu only; follow the instructions above for this system")
        return 1
    for step in steps:
        echo(f"- {step.description}: {' '.join(step.argv)}")
        result = run(list(step.argv), check=False)
        if result.returncode != 0:
            echo(f"error: step failed with exit code {result.returncode}: {' '.join(step.argv)}")
            return result.returncode or 1
    return 0
