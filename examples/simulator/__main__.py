"""`python -m examples.simulator` (from the repository root)."""

import sys

from .cli import simulate_main

sys.exit(simulate_main(prog="python -m examples.simulator"))
