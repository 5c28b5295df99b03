"""Word count: words, reading time and the most frequent terms of a text. No model needed."""

import collections
import os
import re

WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be by for from has have he her his i in is it its of on or that the their they this to "
    "was were will with you your we our not but can".split()
)
WORDS_PER_MINUTE = int(os.environ.get("WORDS_PER_MINUTE", "230"))


def run(payload):
    text = str(payload.get("text", ""))
    words = WORD.findall(text)
    terms = collections.Counter(w.lower() for w in words if len(w) > 2 and w.lower() not in STOPWORDS)
    return {
        "words": len(words),
        "characters": len(text),
        "reading_minutes": round(len(words) / WORDS_PER_MINUTE, 1),
        "top_terms": [term for term, _ in terms.most_common(int(payload.get("top", 5)))],
    }
