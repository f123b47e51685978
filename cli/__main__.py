"""`python -m cli`: the `hotline` command (how `hotline run` starts its workers)."""

from __future__ import annotations

from cli.main import main

main()
