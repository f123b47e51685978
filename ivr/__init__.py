"""The voice menu: call triage, spoken prompts, the knowledge base of known faults."""
