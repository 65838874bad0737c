"""Delivery events from every vendor, normalised into one model (:class:`~.model.DeliveryEvent`).

Vendor payloads (webhook bodies, report rows) are read into that model by each vendor's module here; the
webhook receiver, the event triggers and the asset events all carry it.
"""
