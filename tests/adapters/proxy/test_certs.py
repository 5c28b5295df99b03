"""The CA certificate: created once in the confdir, fingerprint, trust instructions, --install steps, the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from aiplugs.adapters.proxy.certs import (DEBIAN_ANCHOR, InstallStep, ca_dir, ensure_ca, fingerprint, install_steps,
                                 run_install, trust_instructions)


def test_ensure_ca_creates_once_and_fingerprint_is_stable(tmp_path: Path) -> None:
    path = ensure_ca(ca_dir(tmp_path))
    assert path == tmp_path / "ca" / "mitmproxy-ca-cert.pem" and path.is_file()
    first = fingerprint(path)
    assert ensure_ca(ca_dir(tmp_path)) == path and fingerprint(path) == first
    assert len(first.split(":")) == 32
    key = tmp_path / "ca" / "mitmproxy-ca.pem"
    assert key.stat().st_mode & 0o077 == 0  # the CA key is private


def test_trust_instructions_cover_every_platform(tmp_path: Path) -> None:
    text = trust_instructions(Path("/x/ca.pem"))
    for needle in ("update-ca-certificates", "certutil -d sql:$HOME/.pki/nssdb", "firefox", "security add-trusted-cert",
                   "Import-Certificate", "/x/ca.pem", "never changes your proxy settings"):
        assert needle in text


def test_install_steps_use_sudo_unless_root_and_find_nss_databases(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".pki" / "nssdb").mkdir(parents=True)
    steps = install_steps(Path("/x/ca.pem"), home=home, as_root=False)
    assert steps[0].argv == ("sudo", "install", "-m", "0644", "/x/ca.pem", str(DEBIAN_ANCHOR))
    assert steps[1].argv == ("sudo", "update-ca-certificates")
    assert install_steps(Path("/x/ca.pem"), home=home, as_root=True)[0].argv[0] == "install"


def test_run_install_stops_at_the_first_failing_step() -> None:
    lines: list[str] = []
    steps = [InstallStep("ok", ("true",)), InstallStep("fails", ("false",)), InstallStep("never", ("true",))]
    code = run_install(steps, echo=lines.append, run=subprocess.run)
    if not Path("/etc/debian_version").exists():
        assert code == 1 and "Debian/Ubuntu only" in lines[0]
        return
    assert code == 1
    assert [line for line in lines if line.startswith("- ")] == ["- ok: true", "- fails: false"]


def test_cli_cert_prints_path_fingerprint_and_instructions(run_cli, bare_project: Path) -> None:
    shown = run_cli("-c", str(bare_project / "aiplugs.toml"), "cert")
    assert shown.returncode == 0, shown.stderr
    as_json = run_cli("-c", str(bare_project / "aiplugs.toml"), "cert", "--json")
    data = json.loads(as_json.stdout)
    assert Path(data["path"]).is_file() and data["sha256"] in shown.stdout
    assert data["path"] in shown.stdout and "update-ca-certificates" in shown.stdout


def test_cli_cert_install_asks_first(run_cli, bare_project: Path) -> None:
    result = run_cli("-c", str(bare_project / "aiplugs.toml"), "cert", "--install")
    assert result.returncode == 1
    assert "will make this machine trust the aiplugs CA" in result.stdout
    assert "re-run with --yes" in result.stderr
