"""Apache Airflow provider for Brazilian e-mail platforms.

Hooks, operators, sensors, triggers and notifiers for IAGENTEmail, envie.email, CriaEnvio, MailGrid and
emailManager, plus a local sandbox that emulates the five APIs for demos and tests.
"""

from __future__ import annotations

import packaging.version
from airflow import __version__ as airflow_version

__all__ = ["__version__"]

__version__ = "0.1.0"

MIN_AIRFLOW_VERSION = "3.2.0"

if packaging.version.parse(packaging.version.parse(airflow_version).base_version) < packaging.version.parse(
    MIN_AIRFLOW_VERSION
):
    raise RuntimeError(
        f"The package `airflow-provider-emailbr:{__version__}` needs Apache Airflow {MIN_AIRFLOW_VERSION}+ "
        f"(installed: {airflow_version}). Upgrade Airflow or pin an older release of this provider."
    )
