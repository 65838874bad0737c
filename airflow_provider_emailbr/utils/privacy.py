"""Personal data in logs: e-mail addresses are shown masked (LGPD), e.g. ``j***@exemplo.com.br``."""

from __future__ import annotations

from typing import Any


def mask_email(value: Any) -> str:
    """Mask the local part of an e-mail address, keeping its first character and the domain.

    Anything that is not an address is masked whole (``***``), so a malformed value never leaks either.
    """
    text = str(value or "").strip()
    local, sep, domain = text.rpartition("@")
    if not sep or not local or not domain:
        return "***"
    return f"{local[0]}***@{domain}"
