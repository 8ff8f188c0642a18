"""Entry point: python -m localcloud ..."""

import sys

from .cli import main

sys.exit(main())
