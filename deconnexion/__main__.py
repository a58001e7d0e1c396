"""`python -m deconnexion` is the `deconnexion` command."""

import sys

from .cli import main

sys.exit(main())
