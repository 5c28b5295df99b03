"""``python -m aiplugs``: the same as the ``aiplugs`` command."""

import sys

from .cli import main

sys.exit(main())
