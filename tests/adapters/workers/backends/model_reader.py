"""Reads its model file through the path the manager put in its environment."""

import json
import os

with open(os.environ["TEST_MODEL_PATH"], encoding="utf-8") as handle:
    MODEL = handle.read().strip()
SETTINGS = json.loads(os.environ.get("AIPLUGS_SETTINGS", "{}"))


def run(payload):
    return {"model": MODEL, "path": os.environ["TEST_MODEL_PATH"], "settings": SETTINGS}
