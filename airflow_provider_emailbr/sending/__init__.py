"""One sending layer for MailGrid, emailManager and envie.email (the django-anymail shape).

- :mod:`.model`: the transport-free message (:class:`~.model.SimpleEmail`, :class:`~.model.Attachment`),
  the send item with its stable key and the four outcomes (``sent``, ``refused``, ``unknown``,
  ``not_sent``); :mod:`.addresses` is the provider's one e-mail address parser.
- :mod:`.outcomes`: the one classifier turning a failed call into an outcome and a stop reason.
- :mod:`.base`: what a vendor adapter and a send plan are; :mod:`.mailgrid`, :mod:`.emailmanager` and
  :mod:`.envie` are the adapters, each holding how a message is planned into that vendor's calls and how the
  vendor's answers become per-recipient outcomes (vendor field names live only there and in the hooks).
- :mod:`.engine`: the loop of the send operators (skip what earlier tries settled, bounded concurrency,
  tally, summary); :mod:`.ledger`: the results ledger it reads and writes.
- :mod:`.delivery`: the one-shot delivery used by the notifiers and the ``[email] email_backend``.

The modules import only the standard library and the provider's light modules at the top; a vendor's hook
is imported by its adapter, so a DAG file importing an operator pays for its own vendor only.
"""
