"""``python -m simkit.cli``: the same as the ``simkit`` console script."""

import sys

from simkit.cli import main

sys.exit(main())
