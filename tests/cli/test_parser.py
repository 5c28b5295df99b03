"""The command line is built for the command a run names: the table of commands, and which command a run names."""

from __future__ import annotations

import argparse
import importlib

import pytest

from aiplugs.cli import COMMANDS, build_parser, command_of


@pytest.mark.parametrize("module", sorted(COMMANDS))
def test_the_table_names_what_each_module_registers(module: str) -> None:
    commands = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(f"aiplugs.cli.{module}").register(commands)
    assert tuple(commands.choices) == COMMANDS[module]


def test_every_command_once() -> None:
    names = [name for names in COMMANDS.values() for name in names]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("argv", "command"), [
    (["plan"], "plan"),
    (["plan", "--json"], "plan"),
    (["-c", "x.toml", "plan"], "plan"),
    (["-cx.toml", "validate"], "validate"),
    (["--config", "plan", "status"], "status"),  # a config file named "plan"
    (["--config=x.toml", "plan"], "plan"),
    (["--conf", "x.toml", "plan"], "plan"),  # argparse takes a prefix of --config
    (["--c=x.toml", "plan"], "plan"),
    (["plugins", "list"], "plugins"),
    ([], None),
    (["-c"], None),
    (["--help"], None),
    (["-h", "plan"], None),
    (["--version"], None),
    (["--", "plan"], None),
])
def test_command_of(argv: list[str], command: str | None) -> None:
    assert command_of(argv) == command


@pytest.mark.parametrize("argv", [["plan"], ["-c", "a.toml", "plan", "--json"], ["status", "--json"],
                                  ["plugins", "list"], ["models", "list"], ["--config=a.toml", "validate"]])
def test_the_parser_of_one_command_parses_as_the_whole_one(argv: list[str]) -> None:
    one, whole = vars(build_parser(command_of(argv)).parse_args(argv)), vars(build_parser().parse_args(argv))
    assert one.pop("handler") == whole.pop("handler")
    assert one == whole


def test_help_and_mistakes_get_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser(command_of(["pla"])).parse_args(["pla"])
    error = capsys.readouterr().err
    assert all(repr(name) in error for names in COMMANDS.values() for name in names), error


def test_the_console_script_exits_with_mains_code_and_frozen_objects(monkeypatch, capsys) -> None:
    import gc
    import subprocess
    import sys

    from aiplugs.cli import entry

    monkeypatch.setattr(sys, "argv", ["aiplugs", "--version"])
    assert gc.get_freeze_count() == 0
    try:
        with pytest.raises(SystemExit) as ended:
            entry()
        assert ended.value.code == 0 and capsys.readouterr().out.startswith("aiplugs ")
        assert gc.get_freeze_count() > 0  # what the command built is out of the last collection's reach
    finally:
        gc.unfreeze()
    done = subprocess.run([sys.executable, "-m", "aiplugs", "validate", "-c", "/nonexistent/aiplugs.toml"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "error" in done.stderr  # python -m aiplugs runs the same entry
