"""The five vendor emulations, one module each."""

from __future__ import annotations

from .base import Vendor
from .criaenvio import CriaEnvioVendor
from .emailmanager import EmailmanagerVendor
from .envie import EnvieVendor
from .iagente import IagenteVendor
from .mailgrid import MailgridVendor

#: Vendor key → emulation class.
VENDOR_CLASSES: dict[str, type[Vendor]] = {
    "iagente": IagenteVendor,
    "envie": EnvieVendor,
    "criaenvio": CriaEnvioVendor,
    "mailgrid": MailgridVendor,
    "emailmanager": EmailmanagerVendor,
}

__all__ = ["VENDOR_CLASSES", "Vendor"]
