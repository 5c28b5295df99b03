"""Manifest validation: every rejection the issue lists, each naming the file, the field and the bad value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from aiplugs.errors import ConfigError
from aiplugs.declaration.manifest import Manifest, load_manifest, load_plugins
from aiplugs.plan import load_desired_state

from ..conftest import manifest_data

SHA = "ab" * 32
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"


def model(key: str = "MODEL_PATH", filename: str = "m.bin", sha256: str = SHA, **extra: Any) -> dict[str, Any]:
    return {"key": key, "filename": filename, "source_url": "data/m.bin", "sha256": sha256, **extra}


def inference(**fields: Any) -> dict[str, Any]:
    return {"default_mode": "local", "local_entry": "backend.py", "models": [], **fields}


def rejected(folder: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_manifest(folder)
    return [str(p) for p in info.value.problems]


def test_valid_manifest_loads(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    folder = write_plugin(tmp_path, "good", inference=inference(models=[model(sha256=SHA.upper())]))
    plugin = load_manifest(folder)
    assert plugin.id == "good" and plugin.dir == folder.resolve()
    assert plugin.manifest.inference.models[0].sha256 == SHA  # normalised to lower case
    assert plugin.manifest.content_scripts[0].run_at == "document_idle"
    assert plugin.manifest.content_scripts[0].patterns()[0].matches("https://good.example/x")


def test_shipped_example_plugins_are_valid() -> None:
    plugins = load_plugins(Path(__file__).resolve().parents[2] / "plugins")
    assert {"word-count", "sentiment", "summarize"} <= set(plugins)
    assert plugins["summarize"].manifest.inference.default_mode == "cloud"
    assert plugins["sentiment"].manifest.inference.models


def test_id_must_match_folder(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    folder = write_plugin(tmp_path, "folder-name", id="other-name")
    (found,) = rejected(folder)
    assert found == f"{folder / 'manifest.json'}: id: must equal the folder name 'folder-name' (got 'other-name')"


def test_malformed_id_is_rejected(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    (found,) = rejected(write_plugin(tmp_path, "ok", id="Bad Id!"))
    assert ": id: must match " in found and "'Bad Id!'" in found


@pytest.mark.parametrize(
    ("filename", "why"),
    [
        ("../escape.bin", "path separators"),
        ("/etc/passwd", "path separators"),
        ("sub/model.bin", "path separators"),
        ("sub\\model.bin", "path separators"),
        ("..", "must not start with '.'"),
        (".hidden", "must not start with '.'"),
        ("model.bin.part", "reserved for downloads"),
        ("", "path separators"),
    ],
)
def test_model_filename_must_stay_in_models_folder(
    tmp_path: Path, write_plugin: Callable[..., Path], filename: str, why: str
) -> None:
    folder = write_plugin(tmp_path, "p", inference=inference(models=[model(filename=filename)]))
    (found,) = rejected(folder)
    assert "inference.models.0.filename:" in found and why in found and repr(filename) in found


@pytest.mark.parametrize("entry", ["../backend.py", "/abs/backend.py", "a/../../backend.py", "C:\\x.py", "a\\b.py"])
def test_local_entry_must_stay_in_plugin_folder(
    tmp_path: Path, write_plugin: Callable[..., Path], entry: str
) -> None:
    (found,) = rejected(write_plugin(tmp_path, "p", inference=inference(local_entry=entry)))
    assert "inference.local_entry:" in found and repr(entry) in found


@pytest.mark.parametrize(("kind", "path"), [("js", "../x.js"), ("css", "/x.css"), ("js", "")])
def test_script_paths_must_stay_in_plugin_folder(
    tmp_path: Path, write_plugin: Callable[..., Path], kind: str, path: str
) -> None:
    scripts = [{"matches": ["*://*/*"], kind: [path]}]
    (found,) = rejected(write_plugin(tmp_path, "p", content_scripts=scripts))
    assert f"content_scripts.0.{kind}" in found and repr(path) in found


@pytest.mark.parametrize("sha", ["abc", "g" * 64, SHA + "0", "", "sha256:" + SHA])
def test_malformed_sha256_is_rejected(tmp_path: Path, write_plugin: Callable[..., Path], sha: str) -> None:
    (found,) = rejected(write_plugin(tmp_path, "p", inference=inference(models=[model(sha256=sha)])))
    assert "inference.models.0.sha256: sha256 must be 64 hex digits" in found and repr(sha.lower()) in found


def test_duplicate_model_keys_with_different_content_are_rejected(
    tmp_path: Path, write_plugin: Callable[..., Path]
) -> None:
    models = [model(filename="a.bin"), model(filename="b.bin")]
    (found,) = rejected(write_plugin(tmp_path, "p", inference=inference(models=models)))
    assert "model key 'MODEL_PATH' is declared twice with different content" in found


def test_duplicate_model_keys_with_same_content_are_accepted(
    tmp_path: Path, write_plugin: Callable[..., Path]
) -> None:
    plugin = load_manifest(write_plugin(tmp_path, "p", inference=inference(models=[model(), model()])))
    assert len(plugin.manifest.inference.models) == 2


def test_invalid_json_reports_line_and_column(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    folder = write_plugin(tmp_path, "p", manifest='{\n  "id": "p",\n  "name": oops\n}\n')
    (found,) = rejected(folder)
    assert found.startswith(f"{folder / 'manifest.json'}:3:11: invalid JSON: ")


def test_invalid_json_fixture_reports_position() -> None:
    (found,) = rejected(FIXTURES / "broken-json")
    assert found.startswith(f"{FIXTURES / 'broken-json' / 'manifest.json'}:6:1: invalid JSON: ")


def test_missing_manifest_and_non_utf8(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert rejected(tmp_path / "empty") == [f"{tmp_path / 'empty' / 'manifest.json'}: missing manifest.json"]
    (tmp_path / "latin").mkdir()
    (tmp_path / "latin" / "manifest.json").write_bytes(b'{"name": "caf\xe9"}')
    (found,) = rejected(tmp_path / "latin")
    assert "not UTF-8" in found


def test_missing_files_are_reported_together(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    folder = write_plugin(tmp_path, "p", content_scripts=[{"matches": ["*://*/*"], "js": ["a.js"], "css": ["b.css"]}])
    (folder / "backend.py").unlink()
    found = rejected(folder)
    assert len(found) == 3
    assert any("inference.local_entry: file not found: backend.py" in f for f in found)
    assert any("content_scripts.0.js.0: file not found: a.js" in f for f in found)
    assert any("content_scripts.0.css.0: file not found: b.css" in f for f in found)


def test_cloud_plugin_needs_no_backend(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    folder = write_plugin(tmp_path, "c", inference={"default_mode": "cloud", "local_entry": None})
    (folder / "backend.py").unlink()
    assert load_manifest(folder).manifest.inference.default_mode == "cloud"


def test_schema_errors_name_field_and_value_and_come_together(
    tmp_path: Path, write_plugin: Callable[..., Path]
) -> None:
    data = manifest_data("p", manifest_version=2, version="", color="red")
    data["content_scripts"] = [{"matches": ["*://*/*"], "js": ["content.js"], "run_at": "later"}]
    found = rejected(write_plugin(tmp_path, "p", manifest=data))
    assert len(found) == 4, found
    joined = "\n".join(found)
    assert "manifest_version: must be one of 3 (got 2)" in joined
    assert "version: " in joined
    assert "color: unknown key" in joined
    assert "content_scripts.0.run_at: must be one of 'document_start', 'document_end' or 'document_idle'" in joined


@given(st.from_regex(r"[0-9]+(\.[0-9]+)*", fullmatch=True))
def test_a_release_number_passes_without_packaging_as_packaging_would_pass_it(version: str) -> None:
    from packaging.version import Version

    Version(version)  # what the shortcut skips never fails
    assert Manifest.model_validate(manifest_data("p", version=version)).version == version


@pytest.mark.parametrize(("version", "valid"), [("1.0.0", True), ("v1.0", True), ("1.0.0rc1", True), ("2!1.0", True),
                                                ("1.0-foo", False), ("1..0", False), ("١.٠", False), ("1.0 ", True)])
def test_other_versions_are_judged_by_packaging(version: str, valid: bool) -> None:
    if valid:
        assert Manifest.model_validate(manifest_data("p", version=version)).version == version
    else:
        with pytest.raises(ValidationError, match="must be a version like 1.2.0"):
            Manifest.model_validate(manifest_data("p", version=version))


def test_unknown_key_suggests_the_close_name(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    data = manifest_data("p")
    data["inference"] = inference(local_entyr="backend.py")
    (found,) = rejected(write_plugin(tmp_path, "p", manifest=data))
    assert "inference.local_entyr: unknown key (did you mean 'local_entry'?)" in found


def test_malformed_match_pattern_is_named(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    scripts = [{"matches": ["https://*foo/bar"], "js": ["content.js"]}]
    (found,) = rejected(write_plugin(tmp_path, "p", content_scripts=scripts))
    assert "content_scripts.0.matches: invalid match pattern 'https://*foo/bar'" in found


def test_content_script_needs_matches(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    (found,) = rejected(write_plugin(tmp_path, "p", content_scripts=[{"matches": [], "js": ["content.js"]}]))
    assert "content_scripts.0.matches" in found


def test_load_plugins_sorts_skips_hidden_and_reports_all(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    write_plugin(tmp_path, "b")
    write_plugin(tmp_path, "a")
    (tmp_path / ".git").mkdir()
    (tmp_path / "_drafts").mkdir()
    (tmp_path / "README.md").write_text("not a plugin")
    assert list(load_plugins(tmp_path)) == ["a", "b"]
    write_plugin(tmp_path, "c", id="x")
    write_plugin(tmp_path, "d", inference=inference(models=[model(sha256="nope")]))
    with pytest.raises(ConfigError) as info:
        load_plugins(tmp_path)
    assert [p.path for p in info.value.problems] == ["id", "inference.models.0.sha256"]
    assert load_plugins(tmp_path / "missing") == {}


def test_plugin_folders_through_links_as_path_sees_them(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    from aiplugs.declaration.manifest import plugin_folders

    plugins, elsewhere = tmp_path / "plugins", tmp_path / "elsewhere"
    write_plugin(plugins, "a")
    write_plugin(elsewhere, "b")
    (plugins / "b").symlink_to(elsewhere / "b")  # a linked plugin folder: its dir is where the link leads
    (plugins / "c").symlink_to(tmp_path / "gone")  # dangling
    (plugins / "d").symlink_to(plugins / "d")  # a loop
    (plugins / "e").symlink_to(plugins / "a" / "backend.py")  # a file
    loaded = load_plugins(plugins)
    assert {pid: p.dir for pid, p in loaded.items()} == {"a": (plugins / "a").resolve(),
                                                         "b": (elsewhere / "b").resolve()}
    assert plugin_folders(plugins) == {"a", "b"} == {c.name for c in plugins.iterdir() if c.is_dir()}
    assert load_manifest(plugins / "b") == loaded["b"]


# --- rules that need the whole declaration (checked while building the desired state) ----------------------------


def declaration(tmp_path: Path, toml: str = "") -> Path:
    path = tmp_path / "aiplugs.toml"
    path.write_text('plugins_dir = "plugins"\n' + toml, encoding="utf-8")
    return path


def spec_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_desired_state(path, env={})
    return [str(p) for p in info.value.problems]


def test_dependency_on_missing_plugin(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    write_plugin(tmp_path / "plugins", "sentiment")
    folder = write_plugin(tmp_path / "plugins", "app", dependencies=["sentimnet"])
    (found,) = spec_problems(declaration(tmp_path))
    assert found == (f"{folder / 'manifest.json'}: dependencies.0: app needs sentimnet, which is missing: no plugin "
                     "folder or [plugins.sentimnet] source declares it (did you mean 'sentiment'?)")


def test_dependency_on_disabled_plugin(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    write_plugin(tmp_path / "plugins", "base")
    write_plugin(tmp_path / "plugins", "app", dependencies=["base"])
    (found,) = spec_problems(declaration(tmp_path, "[plugins.base]\nenabled = false\n"))
    assert found.endswith("aiplugs.toml:3:11: plugins.base.enabled: app needs base, which is disabled here (enable "
                          "base, or disable app too)")
    # disabling the dependent plugin too makes the declaration valid again
    _, desired = load_desired_state(
        declaration(tmp_path, "[plugins.base]\nenabled = false\n[plugins.app]\nenabled = false\n"), env={}
    )
    assert desired.plugins == () and desired.disabled == ("app", "base")


def test_dependency_cycle_names_the_cycle(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    write_plugin(tmp_path / "plugins", "a", dependencies=["b"])
    write_plugin(tmp_path / "plugins", "b", dependencies=["c"])
    write_plugin(tmp_path / "plugins", "c", dependencies=["a"])
    write_plugin(tmp_path / "plugins", "d", dependencies=["a"])
    (found,) = spec_problems(declaration(tmp_path))
    assert "dependency cycle: a -> b -> c -> a" in found


def test_self_dependency_is_a_cycle(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    write_plugin(tmp_path / "plugins", "a", dependencies=["a"])
    (found,) = spec_problems(declaration(tmp_path))
    assert "dependency cycle: a -> a" in found


def test_model_key_declared_by_two_plugins_with_different_sha(
    tmp_path: Path, write_plugin: Callable[..., Path]
) -> None:
    write_plugin(tmp_path / "plugins", "a", inference=inference(models=[model(filename="a.bin")]))
    write_plugin(tmp_path / "plugins", "b", inference=inference(models=[model(filename="b.bin", sha256="cd" * 32)]))
    (found,) = spec_problems(declaration(tmp_path))
    assert "model key 'MODEL_PATH' is also declared by 'a' with a different sha256" in found


def test_same_filename_with_different_sha_is_rejected(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    write_plugin(tmp_path / "plugins", "a", inference=inference(models=[model(key="A")]))
    write_plugin(tmp_path / "plugins", "b", inference=inference(models=[model(key="B", sha256="cd" * 32)]))
    (found,) = spec_problems(declaration(tmp_path))
    assert "filename 'm.bin' is also declared by 'a' with a different sha256" in found


def test_plugin_table_without_folder_is_reported_with_position(
    tmp_path: Path, write_plugin: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_plugin(tmp_path / "plugins", "word-count")
    monkeypatch.chdir(tmp_path)
    (found,) = spec_problems(declaration(tmp_path, "[plugins.word-cuont]\nworkers = 2\n"))
    assert found.startswith("aiplugs.toml:3:11: plugins.word-cuont: no plugin folder ")
    assert found.endswith("(did you mean 'word-count'?)")


def test_manifest_model_is_frozen() -> None:
    manifest = Manifest.model_validate(manifest_data("p"))
    with pytest.raises(ValidationError):
        manifest.id = "q"  # type: ignore[misc]
    assert json.loads(manifest.model_dump_json())["id"] == "p"


def test_unknown_keys_in_lists_suggest_from_the_item_schema(
    tmp_path: Path, write_plugin: Callable[..., Path]
) -> None:
    data = manifest_data("p", content_scripts=[{"matches": ["*://*/*"], "jss": ["content.js"]}])
    data["inference"] = inference(models=[model(sizee=1)])
    found = rejected(write_plugin(tmp_path, "p", manifest=data))
    assert any("content_scripts.0.jss: unknown key (did you mean 'js'?)" in f for f in found)
    assert any("inference.models.0.sizee: unknown key (did you mean 'size'?)" in f for f in found)


def test_local_mode_override_needs_a_backend(
    tmp_path: Path, write_plugin: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_entry = write_plugin(tmp_path / "plugins", "cloudy", inference={"default_mode": "cloud", "local_entry": None})
    missing = write_plugin(tmp_path / "plugins", "remote", inference={"default_mode": "cloud"})
    (missing / "backend.py").unlink()
    monkeypatch.chdir(tmp_path)
    found = spec_problems(declaration(tmp_path, '[plugins.cloudy]\nmode = "local"\n[plugins.remote]\nmode = "local"\n'))
    assert len(found) == 2, found
    assert found[0].startswith("aiplugs.toml:3:8: plugins.cloudy.mode: local mode needs a backend")
    assert str(no_entry / "manifest.json") in found[0] and "inference.local_entry is null" in found[0]
    assert found[1].startswith("aiplugs.toml:5:8: plugins.remote.mode: local mode needs a backend")
    assert f"file not found: {missing / 'backend.py'}" in found[1]
    # as cloud plugins (their manifests' default) they are fine
    _, desired = load_desired_state(declaration(tmp_path), env={})
    assert [r.plugin_id for r in desired.relays] == ["cloudy", "remote"]


def test_local_default_with_null_entry_is_rejected(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    folder = write_plugin(tmp_path / "plugins", "p", inference={"default_mode": "local", "local_entry": None})
    (found,) = spec_problems(declaration(tmp_path))
    assert found == f"{folder / 'manifest.json'}: inference.local_entry: default_mode is local but local_entry is null"


def test_limits_keep_manifests_small_and_rule_sets_quick(tmp_path: Path) -> None:
    from aiplugs.declaration.manifest import MAX_MANIFEST_BYTES, MAX_PATTERNS_PER_PLUGIN

    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "content.js").write_text("1;\n")
    (folder / "backend.py").write_text("def run(payload):\n    return payload\n")
    data = manifest_data("big")
    data["content_scripts"] = [{"matches": [f"*://h{i}.example/*" for i in range(MAX_PATTERNS_PER_PLUGIN)],
                                "exclude_matches": ["*://h0.example/x*"], "js": ["content.js"]}]
    (folder / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError) as many:
        load_manifest(folder)
    assert [(p.path, str(MAX_PATTERNS_PER_PLUGIN + 1) in p.message) for p in many.value.problems] == [
        ("content_scripts", True)]
    data["content_scripts"][0]["matches"] = ["*://a.example/*"] * 3
    data["description"] = "x" * MAX_MANIFEST_BYTES
    (folder / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="larger than 256 KiB"):
        load_manifest(folder)


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_size_limit_holds_to_the_byte_past_the_first_read(tmp_path: Path, extra: int) -> None:
    from aiplugs.declaration.manifest import _FIRST_READ, MAX_MANIFEST_BYTES

    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "content.js").write_text("1;\n")
    (folder / "backend.py").write_text("def run(payload):\n    return payload\n")
    data = manifest_data("p", description="")
    for size in (_FIRST_READ + extra, MAX_MANIFEST_BYTES + extra):
        data["description"] = ""
        data["description"] = "x" * (size - len(json.dumps(data)))
        (folder / "manifest.json").write_text(json.dumps(data))
        assert (folder / "manifest.json").stat().st_size == size
        if size > MAX_MANIFEST_BYTES:
            with pytest.raises(ConfigError, match="larger than 256 KiB"):
                load_manifest(folder)
        else:
            assert len(load_manifest(folder).manifest.description) == len(data["description"])
