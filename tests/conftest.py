"""Test-wide settings."""

import os

# Typer draws a bad option's message in a box as wide as the terminal (80 columns under pytest),
# breaking it over lines: a message naming a long temporary path no longer held the words a test
# looks for (CI failed on a longer pytest-of-root/pytest-NN folder). Read at typer's import.
os.environ.setdefault("TERMINAL_WIDTH", "1000")
