"""Operators of the provider, one module per job: contacts, campaigns, reports, send."""
