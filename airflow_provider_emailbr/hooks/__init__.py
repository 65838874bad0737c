"""Hooks for the five platforms, one module each, over the shared core in :mod:`.base`."""
