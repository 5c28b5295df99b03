"""Trains the page-topic example's model: a multinomial Naive Bayes text classifier, from the corpus it ships.

    python scripts/train_page_topic.py          # writes examples/page-topic/data/page-topic-nb-v1.json
    python scripts/train_page_topic.py --check  # exit 1 if the shipped model or its manifest entry is stale

Pure Python on purpose (no numpy): sorted vocabulary and classes, ``math.log``, values rounded to 6 decimals and
canonical JSON make the output bit-for-bit the same on any machine, so the sha256 in the plugin's manifest can be
checked against a fresh build. The backend reads the same file into numpy arrays.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
from collections import Counter
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[1] / "examples" / "page-topic"
CORPUS = "data/corpus.tsv"
MODEL = "data/page-topic-nb-v1.json"
MODEL_KEY = "PAGE_TOPIC_MODEL"
TOKEN_PATTERN = r"[a-z]+"  # applied to the lowercased text, here and by the backend (it reads it from the model)
ALPHA = 1.0  # Laplace smoothing
# Never features: too common to tell topics apart in a corpus this small. Tokens outside the vocabulary are
# ignored at prediction time, so the backend needs no copy of this list.
STOPWORDS = frozenset(
    "a an and are as at be by for from has have he her his i in is it its of on or so that the their them then "
    "they this to was were will with you your we our not but can than which when who into out up".split()
)


def read_corpus(path: Path) -> list[tuple[str, str]]:
    """``label<TAB>text`` lines; blank lines and ``#`` comments skipped. A malformed line is an error."""
    documents = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        label, tab, text = line.partition("\t")
        if not tab or not label or not text.strip():
            raise SystemExit(f"{path}:{number}: expected 'label<TAB>text', got {line!r}")
        documents.append((label, text))
    return documents


def tokens(text: str) -> list[str]:
    return [t for t in re.findall(TOKEN_PATTERN, text.lower()) if len(t) > 1 and t not in STOPWORDS]


def train(documents: list[tuple[str, str]], corpus_sha256: str) -> dict:
    classes = sorted({label for label, _ in documents})
    counts = {c: Counter() for c in classes}
    docs = Counter(label for label, _ in documents)
    for label, text in documents:
        counts[label].update(tokens(text))
    vocabulary = sorted(set().union(*counts.values()))
    size = len(vocabulary)
    likelihoods = []
    for c in classes:
        total = sum(counts[c].values()) + ALPHA * size
        likelihoods.append([round(math.log((counts[c][w] + ALPHA) / total), 6) for w in vocabulary])
    return {
        "format": "multinomial-naive-bayes/1",
        "token_pattern": TOKEN_PATTERN,
        "lowercase": True,
        "alpha": ALPHA,
        "classes": classes,
        "vocabulary": vocabulary,
        "log_priors": [round(math.log(docs[c] / len(documents)), 6) for c in classes],
        "log_likelihoods": likelihoods,  # [class][word]
        "trained_on": {"corpus": CORPUS, "sha256": corpus_sha256, "documents": len(documents)},
    }


def build(plugin: Path) -> bytes:
    raw = (plugin / CORPUS).read_bytes()
    model = train(read_corpus(plugin / CORPUS), hashlib.sha256(raw).hexdigest())
    return (json.dumps(model, sort_keys=True, separators=(",", ":")) + "\n").encode()


def manifest_entry(plugin: Path) -> dict:
    manifest = json.loads((plugin / "manifest.json").read_text(encoding="utf-8"))
    return next(m for m in manifest["inference"]["models"] if m["key"] == MODEL_KEY)


def stale(plugin: Path, data: bytes) -> list[str]:
    """What differs from a fresh build: the shipped model's bytes, the manifest's sha256 and size."""
    found = []
    target = plugin / MODEL
    if not target.is_file() or target.read_bytes() != data:
        found.append(f"{target}: differs from a fresh build")
    entry = manifest_entry(plugin)
    digest = hashlib.sha256(data).hexdigest()
    if entry.get("sha256") != digest:
        found.append(f"{plugin / 'manifest.json'}: {MODEL_KEY} sha256 is {entry.get('sha256')}, want {digest}")
    if entry.get("size") != len(data):
        found.append(f"{plugin / 'manifest.json'}: {MODEL_KEY} size is {entry.get('size')}, want {len(data)}")
    return found


def write(target: Path, data: bytes) -> None:
    """Same folder, then replace: a reader never sees half a model."""
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything is stale")
    parser.add_argument("--plugin", type=Path, default=PLUGIN, help=f"the plugin folder (default: {PLUGIN})")
    args = parser.parse_args(argv)
    data = build(args.plugin)
    digest = hashlib.sha256(data).hexdigest()
    if args.check:
        problems = stale(args.plugin, data)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run scripts/train_page_topic.py and put its sha256 and size into the manifest", file=sys.stderr)
            return 1
        print(f"{args.plugin / MODEL}: up to date (sha256 {digest}, size {len(data)})")
        return 0
    write(args.plugin / MODEL, data)
    print(f"wrote {args.plugin / MODEL}")
    print(f"sha256 {digest}")
    print(f"size   {len(data)}")
    for problem in stale(args.plugin, data):
        print(f"note: {problem}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
