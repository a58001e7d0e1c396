"""`deconnexion simulate`: the quiet-hours simulator, an example of the source repository.

The wheel installs `deconnexion` only; the simulator lives in the repository's `examples/`
(`python -m examples.simulator`). From a checkout (or an editable install of one) this command
runs it; from a wheel it says in one line what to do and exits 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path

from deconnexion.errors import DeconnexionError

__all__ = ["CHECKOUT_HINT", "checkout_root", "simulate_main"]

CHECKOUT_HINT = (
    "the simulator is an example of the source repository, not installed by the wheel: "
    "from a clone of deconnexion run `python -m examples.simulator`"
)


def checkout_root() -> Path | None:
    """The source checkout this package runs from, if it has the simulator."""
    root = Path(__file__).resolve().parents[2]
    has_simulator = (root / "examples" / "simulator" / "cli.py").is_file()
    return root if has_simulator and (root / "pyproject.toml").is_file() else None


def simulate_main(argv: Sequence[str]) -> int:
    root = checkout_root()
    if root is None:
        raise DeconnexionError(CHECKOUT_HINT)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))  # `examples` is a folder of the checkout, not installed
    result: int = import_module("examples.simulator.cli").simulate_main(list(argv))
    return result
