"""Triggers of the provider: asynchronous waits that run in the triggerer, never in a worker slot."""
