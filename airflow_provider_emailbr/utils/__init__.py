"""Shared helpers of the provider: redaction, encodings, retries, dates and pagination."""
