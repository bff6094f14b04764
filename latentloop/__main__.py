"""`python -m latentloop`: the same as the `latentloop` console script."""

import sys

from latentloop.cli import main

sys.exit(main())
