"""``python -m aiplugs``: the same as the ``aiplugs`` command."""

from .cli import entry

entry()
