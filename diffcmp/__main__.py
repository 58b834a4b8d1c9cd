"""``python -m diffcmp``: the ``diffcmp`` command (:func:`diffcmp.cli.main`)."""

import sys

from .cli import main

sys.exit(main())
