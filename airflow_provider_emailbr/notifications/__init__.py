"""Notifiers that send Airflow alerts by e-mail through MailGrid, emailManager and envie.email.

``MailGridNotifier`` (:mod:`.mailgrid`), ``EmailManagerNotifier`` (:mod:`.emailmanager`) and
``EnvieEmailNotifier`` (:mod:`.envie`) work in ``on_failure_callback``, ``on_success_callback``,
``on_retry_callback`` and in deadline alerts (``AsyncCallback``, run in the triggerer).
"""
