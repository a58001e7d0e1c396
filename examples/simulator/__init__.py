"""The quiet-hours simulator: generated ENT traffic through the real scheduler, hold queue and
release worker on a simulated clock, summarized and drawn in a self-contained HTML report.

    python -m examples.simulator            # or: deconnexion simulate
"""
