"""``python -m airflow_provider_emailbr.sandbox``: the sandbox's command line (``python -m emailbr_sandbox``).

Importing the package first raises the install hint where ``airflow-provider-emailbr-sandbox`` is missing.
"""

from __future__ import annotations

import sys

from emailbr_sandbox.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
