"""Command-line tools behind ``seg-ros`` (export, evaluate, benchmark, replay, demo, ...)."""
