"""Page topic: a multinomial Naive Bayes classifier whose model (JSON, path in $PAGE_TOPIC_MODEL) is loaded into
numpy arrays once, at import. ``{"text": ...}`` gives one result, ``{"texts": [...]}`` a list of them.

The model file is built by ``scripts/train_page_topic.py`` from ``data/corpus.tsv``; it carries its own token
pattern, so training and prediction cannot tokenize differently.
"""

import json
import os
import re

import numpy as np


def _load(path):
    with open(path, encoding="utf-8") as handle:
        model = json.load(handle)
    index = {word: i for i, word in enumerate(model["vocabulary"])}
    priors = np.asarray(model["log_priors"], dtype=np.float64)
    likelihoods = np.asarray(model["log_likelihoods"], dtype=np.float64)  # [class, word]
    if likelihoods.shape != (len(model["classes"]), len(index)) or priors.shape != (len(model["classes"]),):
        raise ValueError(f"{path}: log_priors/log_likelihoods do not fit {len(model['classes'])} classes and "
                         f"{len(index)} words")
    return tuple(model["classes"]), index, re.compile(model["token_pattern"]), priors, likelihoods


CLASSES, INDEX, TOKEN, LOG_PRIORS, LOG_LIKELIHOODS = _load(os.environ["PAGE_TOPIC_MODEL"])


def _counts(texts):
    """A [text, word] matrix of vocabulary word counts; words outside the vocabulary are ignored."""
    counts = np.zeros((len(texts), len(INDEX)), dtype=np.float64)
    for row, text in enumerate(texts):
        ids = [INDEX[t] for t in TOKEN.findall(text.lower()) if t in INDEX]
        if ids:
            counts[row] = np.bincount(ids, minlength=len(INDEX))
    return counts


def classify(texts):
    counts = _counts(texts)
    log_posteriors = counts @ LOG_LIKELIHOODS.T + LOG_PRIORS
    shifted = np.exp(log_posteriors - log_posteriors.max(axis=1, keepdims=True))  # a softmax that cannot overflow
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    words = counts.sum(axis=1)
    results = []
    for probs, seen in zip(probabilities, words):
        best = int(np.argmax(probs))
        results.append({
            "topic": CLASSES[best] if seen else None,  # no known word: no evidence, only the priors
            "confidence": round(float(probs[best]), 4) if seen else 0.0,
            "scores": {c: round(float(p), 4) for c, p in zip(CLASSES, probs)},
            "words": int(seen),
        })
    return results


def run(payload):
    texts = payload.get("texts")
    if texts is None:
        return classify([str(payload.get("text", ""))])[0]
    return {"results": classify([str(t) for t in texts])}
