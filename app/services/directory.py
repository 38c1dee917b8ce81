"""The organisations' names, for pages that show an organisation's code.

An organisation is an NHS trust (ODS code), a council (ONS code) or the service's
operator; its code and name are public reference data (NHS ODS and ONS publish them)
that every user is shown beside their own code. Pages read them as they read the
session behind a cookie: without a policy decision or an audit entry of their own (the
page view they belong to is audited). Listing organisations as records, with their kind,
is ``identity.list_organisations``, gated and audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sqlalchemy import select

from app.db.models import Organisation
from app.services.context import ServiceContext

__all__ = ["organisation_names"]


def organisation_names(ctx: ServiceContext) -> Mapping[str, str]:
    """Code -> name of every organisation."""
    with ctx.reads() as session:
        rows = session.execute(select(Organisation.code, Organisation.name))
        return MappingProxyType({str(code): str(name) for code, name in rows})
