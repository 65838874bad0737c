"""Apache Airflow provider for Brazilian e-mail platforms.

Hooks, operators, sensors, triggers and notifiers for IAGENTEmail, envie.email, CriaEnvio, MailGrid and
emailManager, plus a local sandbox that emulates the five APIs for demos and tests.
"""

from __future__ import annotations

from importlib import metadata

import packaging.version

__all__ = ["__version__"]

__version__ = "0.1.0"

MIN_AIRFLOW_VERSION = "3.2.0"


def _installed_airflow_version() -> str:
    """The installed Airflow version, read from package metadata.

    Importing Airflow here would configure it (``AIRFLOW_HOME``, the metadata DB) before a test runner or a
    CLI had the chance to set it up.
    """
    for distribution in ("apache-airflow-core", "apache-airflow"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    from airflow import __version__

    return __version__


airflow_version = _installed_airflow_version()

if packaging.version.parse(packaging.version.parse(airflow_version).base_version) < packaging.version.parse(
    MIN_AIRFLOW_VERSION
):
    raise RuntimeError(
        f"The package `airflow-provider-emailbr:{__version__}` needs Apache Airflow {MIN_AIRFLOW_VERSION}+ "
        f"(installed: {airflow_version}). Upgrade Airflow or pin an older release of this provider."
    )
