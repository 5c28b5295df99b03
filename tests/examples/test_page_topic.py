"""The page-topic example: its model is exactly what ``scripts/train_page_topic.py`` builds from the corpus it ships
(the manifest's sha256 and size included); its backend classifies text it never saw, run as a real worker with the
daemon's interpreter (numpy is installed there); and aiplugs.toml declares it as the package it is."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from aiplugs.adapters.workers import WorkerManager
from aiplugs.events import EventBus
from aiplugs.plan import WorkerSpec

from ..e2e.test_lifecycle import Project

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "examples" / "page-topic"
SCRIPT = REPO / "scripts" / "train_page_topic.py"
MODEL = PLUGIN / "data" / "page-topic-nb-v1.json"

# Hold-out texts: none of them is a line of data/corpus.tsv (checked below).
HOLD_OUT = {
    "cooking": "Stir the risotto with a wooden spoon, add warm broth a ladle at a time, and finish it with butter "
               "and grated cheese. Bake the cookies for twelve minutes, until the edges are brown.",
    "programming": "Each method of the class raises an exception when its input is invalid, and the unit tests "
                   "cover every branch. Refactor the parser module, then run the build again.",
    "sports": "The home team equalised late in the game, and the striker was named player of the match after "
              "the final whistle.",
    "finance": "Rising interest rates made mortgages more expensive and pushed down the price of bonds, so the "
               "fund sold shares to pay its investors.",
}


def train(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def model_entry(plugin: Path) -> dict:
    manifest = json.loads((plugin / "manifest.json").read_text())
    return next(m for m in manifest["inference"]["models"] if m["key"] == "PAGE_TOPIC_MODEL")


def new_project(root: Path) -> Project:
    """A copy of the shipped plugins/ with free fixed ports (test_lifecycle's Project); no aiplugs.toml yet."""
    root.mkdir()
    shutil.copytree(REPO / "plugins", root / "plugins", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "models").mkdir()
    return Project(root)


# ---- the model, the script and the manifest agree ---------------------------------------------------------------

def test_the_shipped_model_is_what_the_script_builds() -> None:
    result = train("--check")
    assert result.returncode == 0, result.stderr
    data = MODEL.read_bytes()
    entry = model_entry(PLUGIN)
    assert (entry["sha256"], entry["size"]) == (hashlib.sha256(data).hexdigest(), len(data))
    assert entry["filename"] == MODEL.name and entry["source_url"] == "data/page-topic-nb-v1.json"
    model = json.loads(data)
    assert model["classes"] == ["cooking", "finance", "programming", "sports"]
    assert model["trained_on"]["sha256"] == hashlib.sha256((PLUGIN / "data" / "corpus.tsv").read_bytes()).hexdigest()
    assert len(model["log_likelihoods"]) == 4 and {len(row) for row in model["log_likelihoods"]} == {
        len(model["vocabulary"])}


def test_training_writes_the_same_bytes_again(tmp_path: Path) -> None:
    plugin = tmp_path / "page-topic"
    shutil.copytree(PLUGIN, plugin, ignore=shutil.ignore_patterns("__pycache__"))
    (plugin / "data" / MODEL.name).unlink()
    result = train("--plugin", str(plugin))
    assert result.returncode == 0, result.stderr
    assert (plugin / "data" / MODEL.name).read_bytes() == MODEL.read_bytes()
    assert f"sha256 {model_entry(PLUGIN)['sha256']}" in result.stdout
    assert result.stderr == ""  # nothing stale: the manifest already names these bytes


def test_check_fails_when_the_corpus_or_the_manifest_moves(tmp_path: Path) -> None:
    plugin = tmp_path / "page-topic"
    shutil.copytree(PLUGIN, plugin, ignore=shutil.ignore_patterns("__pycache__"))
    assert train("--check", "--plugin", str(plugin)).returncode == 0
    corpus = plugin / "data" / "corpus.tsv"
    corpus.write_text(corpus.read_text() + "sports\tThe goalie blocked the shot.\n")
    result = train("--check", "--plugin", str(plugin))
    assert result.returncode == 1 and "differs from a fresh build" in result.stderr
    shutil.copy(PLUGIN / "data" / "corpus.tsv", corpus)
    manifest = plugin / "manifest.json"
    manifest.write_text(manifest.read_text().replace(model_entry(PLUGIN)["sha256"], "0" * 64))
    result = train("--check", "--plugin", str(plugin))
    assert result.returncode == 1 and f"sha256 is {'0' * 64}" in result.stderr


def test_the_hold_out_texts_are_not_training_data() -> None:
    corpus = (PLUGIN / "data" / "corpus.tsv").read_text()
    for text in HOLD_OUT.values():
        for sentence in text.split(". "):
            assert sentence.rstrip(".") not in corpus


# ---- the backend, as a real worker ------------------------------------------------------------------------------

@pytest.fixture
async def worker(tmp_path: Path):
    """page-topic's backend.py in a worker process of the daemon's own interpreter, with the shipped model."""
    manager = WorkerManager(tmp_path / "state", events=EventBus(), grace_s=3.0, ready_timeout_s=60.0)
    env = {"AIPLUGS_PLUGIN_ID": "page-topic", "AIPLUGS_PLUGIN_DIR": str(PLUGIN), "AIPLUGS_SETTINGS": "{}",
           "PAGE_TOPIC_MODEL": str(MODEL)}
    spec = WorkerSpec(plugin_id="page-topic", count=1, entry=PLUGIN / "backend.py", plugin_dir=PLUGIN,
                      env=tuple(sorted(env.items())), pass_env=(), models=(MODEL.name,), timeout_s=60.0,
                      config_hash="page-topic-test")
    try:
        await manager.start(spec, 0)
        yield manager
    finally:
        await manager.close()


@pytest.mark.parametrize("topic", sorted(HOLD_OUT))
async def test_backend_names_the_topic_of_unseen_text(worker: WorkerManager, topic: str) -> None:
    reply = await worker.call("page-topic", {"text": HOLD_OUT[topic]})
    assert reply["topic"] == topic, reply
    assert reply["confidence"] == max(reply["scores"].values()) and reply["confidence"] > 0.5
    assert sorted(reply["scores"]) == ["cooking", "finance", "programming", "sports"]
    assert sum(reply["scores"].values()) == pytest.approx(1.0, abs=1e-3)
    assert reply["words"] > 5


async def test_backend_batch_matches_single_calls(worker: WorkerManager) -> None:
    topics = sorted(HOLD_OUT)
    reply = await worker.call("page-topic", {"texts": [HOLD_OUT[t] for t in topics] + ["", "zzz qqq"]})
    results = reply["results"]
    assert [r["topic"] for r in results] == [*topics, None, None]  # no known word: no topic, only the priors
    assert results[0] == await worker.call("page-topic", {"text": HOLD_OUT[topics[0]]})
    assert results[-1]["confidence"] == 0.0 and sum(results[-1]["scores"].values()) == pytest.approx(1.0, abs=1e-3)


# ---- the declaration the repository ships ----------------------------------------------------------------------

def shipped_table() -> str:
    """The page-topic table of the shipped aiplugs.toml, in force (uncommented, if it ships commented out)."""
    lines = [line.removeprefix("# ") for line in (REPO / "aiplugs.toml").read_text().splitlines()]
    start = lines.index("[plugins.page-topic]")
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip() or lines[i].startswith("[")),
               len(lines))
    return "\n".join(lines[start:end]) + "\n"


def test_the_shipped_table_declares_the_example_folder_disabled() -> None:
    table = tomllib.loads(shipped_table())["plugins"]["page-topic"]
    assert table == {"source": "examples/page-topic", "enabled": False}
    assert (REPO / table["source"] / "manifest.json").is_file()


@pytest.mark.parametrize("folder", [True, False], ids=["with-examples", "copied-without-examples"])
def test_the_disabled_table_is_neither_fetched_nor_planned(tmp_path: Path, folder: bool) -> None:
    """Declared as shipped, page-topic costs nothing until enabled, even in a copy of aiplugs.toml without the
    examples/ folder (what many tests make of the shipped file)."""
    project = new_project(tmp_path / "project")
    if folder:
        shutil.copytree(PLUGIN, project.root / "examples" / "page-topic", ignore=shutil.ignore_patterns("__pycache__"))
    project.write_config(extra="\n" + shipped_table())
    assert "2 plugins enabled (sentiment, word-count)" in project.cli("validate", check=True).stdout
    plan = project.cli("plan", check=True).stdout
    assert "+ worker word-count#0" in plan and "page-topic" not in plan, plan
