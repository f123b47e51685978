"""Who may use the hotline's screens and API: accounts, roles, credentials."""
