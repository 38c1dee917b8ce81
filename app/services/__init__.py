"""Use cases: one function per thing a user or the operator does.

Each runs in a :class:`~app.services.unit.UnitOfWork`: check policy, do the work,
and write exactly one audit entry in the same transaction, refusals included.
"""
