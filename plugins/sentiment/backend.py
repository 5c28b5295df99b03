"""Sentiment: scores texts with the lexicon model whose path arrives in $SENTIMENT_LEXICON."""

import os
import re

WORD = re.compile(r"[a-z']+")


def _load(path):
    lexicon = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#") or "\t" not in line:
                continue
            word, score = line.rstrip("\n").split("\t")
            lexicon[word] = int(score)
    return lexicon


LEXICON = _load(os.environ["SENTIMENT_LEXICON"])


def score(text):
    hits = [LEXICON[w] for w in WORD.findall(text.lower()) if w in LEXICON]
    value = sum(hits) / (3 * len(hits)) if hits else 0.0
    label = "positive" if value > 0.15 else "negative" if value < -0.15 else "neutral"
    return {"score": round(value, 3), "label": label, "hits": len(hits)}


def run(payload):
    texts = payload.get("texts")
    if texts is None:
        return score(str(payload.get("text", "")))
    return {"results": [score(str(t)) for t in texts]}


SEEN = {"texts": 0, "words": 0}


def on_event(event):
    """word-count/counted (this plugin subscribes to it in its manifest): a tally of what word-count saw."""
    SEEN["texts"] += 1
    SEEN["words"] += int(event["data"].get("words", 0))


def seen(payload):
    return dict(SEEN)
