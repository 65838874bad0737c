"""Sensors of the provider: wait for campaigns and reports on the e-mail platforms."""
