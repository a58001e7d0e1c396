"""`python -m deconnexion` is the `deconnexion` command."""

import sys

from deconnexion.cli import main

sys.exit(main())
