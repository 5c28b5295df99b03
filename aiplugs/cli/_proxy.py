"""Commands: aiplugs cert — the proxy's CA certificate: path, fingerprint, how to trust it, --install."""

from __future__ import annotations

import argparse
import sys

from ._common import add_config_option, print_json

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "cert", help="show the proxy's CA certificate and how to trust it",
        description="Print the path and SHA-256 fingerprint of the CA certificate the proxy signs decrypted pages "
        "with (created in <state_dir>/ca if missing), and how to trust it on Linux, macOS and Windows. "
        "aiplugs never changes system proxy settings.")
    add_config_option(p)
    p.add_argument("--install", action="store_true",
                   help="trust the CA on this Debian/Ubuntu machine: system store and the NSS databases of "
                   "Chromium/Firefox (shows every step and asks first)")
    p.add_argument("-y", "--yes", action="store_true", help="with --install: do not ask for confirmation")
    p.add_argument("--json", action="store_true", help="print path and fingerprint as JSON")
    p.set_defaults(handler=cmd_cert)


def cmd_cert(args: argparse.Namespace) -> int:
    from ..declaration.config import load_config
    from ..adapters.proxy.certs import ca_dir, ensure_ca, fingerprint, install_steps, run_install, trust_instructions

    config = load_config(args.config)
    path = ensure_ca(ca_dir(config.state_dir))
    digest = fingerprint(path)
    if args.json:
        print_json({"path": str(path), "sha256": digest})
        return 0
    print(f"CA certificate: {path}")
    print(f"SHA-256:        {digest}")
    if not args.install:
        print()
        print(trust_instructions(path))
        return 0
    steps = install_steps(path)
    print("\n`aiplugs cert --install` will make this machine trust the aiplugs CA for HTTPS:")
    for step in steps:
        print(f"  - {step.description}\n      $ {' '.join(step.argv)}")
    print("Anyone holding the CA key in that folder could then impersonate HTTPS sites to this machine; "
          "keep it private. Undo: remove the file and run update-ca-certificates --fresh.")
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: not a terminal; re-run with --yes to confirm", file=sys.stderr)
            return 1
        if input("Proceed? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return 1
    return run_install(steps)
