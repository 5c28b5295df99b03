"""Word count: words, reading time and the most frequent terms of a text. No model needed.

Shows the programming model: ``init``/``shutdown`` hooks keep a small tally in the plugin's own data folder
(``ctx.data_dir``, kept across restarts and versions), ``run`` publishes a ``word-count/counted`` event other
plugins (and pages) can subscribe to, and ``stats`` is a second tool (``POST /v1/plugins/word-count/tools/stats``).
"""

import collections
import json
import os
import re

WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be by for from has have he her his i in is it its of on or that the their they this to "
    "was were will with you your we our not but can".split()
)
WORDS_PER_MINUTE = int(os.environ.get("WORDS_PER_MINUTE", "230"))
TALLY = {"texts": 0, "words": 0}


def init(ctx):
    path = ctx.data_dir / "tally.json"
    if path.exists():
        TALLY.update(json.loads(path.read_text()))
    ctx.log.info("word-count ready; %d texts counted so far", TALLY["texts"])


def shutdown(ctx):
    (ctx.data_dir / "tally.json").write_text(json.dumps(TALLY))


def run(payload, ctx):
    text = str(payload.get("text", ""))
    words = WORD.findall(text)
    terms = collections.Counter(w.lower() for w in words if len(w) > 2 and w.lower() not in STOPWORDS)
    top = [term for term, _ in terms.most_common(int(payload.get("top", 5)))]
    TALLY["texts"] += 1
    TALLY["words"] += len(words)
    ctx.publish("counted", {"words": len(words), "top_terms": top})
    return {
        "words": len(words),
        "characters": len(text),
        "reading_minutes": round(len(words) / WORDS_PER_MINUTE, 1),
        "top_terms": top,
    }


def stats(payload, ctx):
    return dict(TALLY)
