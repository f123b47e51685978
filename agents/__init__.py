"""Hotliners: who they are, their skills, shifts and states.

Pure logic (`shifts`, `lifecycle`, `config`) has no I/O; the live state of each
hotliner lives in Redis and is changed only through `queues.store`, which
keeps agents and callers consistent in one atomic step.
"""
