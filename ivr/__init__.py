"""The voice menu: triage of calls, spoken prompts, and the knowledge base of known faults."""
