"""The roles a user can hold (what the Cedar policies in ``policies/`` grant to each).

A module of its own, importing nothing, so that ``hsclink --help`` can name the roles
without loading the ORM (``app.db.models`` re-exports them).
"""

from __future__ import annotations

__all__ = ["ROLES"]

ROLES = ("analyst", "ig_officer", "submitter", "operator")
