"""`python -m deconnexion.cli` is the `deconnexion` command."""

import sys

from deconnexion.cli import main

sys.exit(main())
