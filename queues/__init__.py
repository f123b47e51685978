"""Skill-based queues and the router that offers callers to hotliners.

Invariants (held by the Lua scripts in `queues.scripts`, checked by tests):
- a caller is in at most one queue, and is either queued, offered to exactly
  one hotliner, or with a hotliner — never two at once, never nowhere;
- a hotliner holds at most one offer or call;
- every change of a caller or hotliner appends an event to the stream in the
  same atomic step, so the call log misses nothing.
"""
