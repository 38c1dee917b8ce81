"""Domain errors, in words users understand. HTTP mapping lives in ``app/api/problems.py``.

    HsclinkError
    ├── NotAuthenticated        no, bad, expired or revoked credentials
    ├── PermissionDenied        the policy in force does not grant the action
    ├── RateLimited             too many failed logins for an account or address
    ├── NotFound                no such user, token, entry or head
    ├── Conflict                the request clashes with existing state
    │   ├── BudgetExhausted     a query would spend more privacy budget than is left
    │   ├── UploadInProgress    another request is streaming the same submission
    │   ├── UploadOffsetMismatch  a PATCH's Upload-Offset is not where the rows end (tus)
    │   └── AlreadySubmitted    this file was already accepted for the organisation
    ├── InvalidRequest          the request is malformed (names the field, never its value)
    │   └── UploadTooLarge      an upload's bytes run past its declared Upload-Length
    ├── CsrfFailed              a browser form arrived without its anti-forgery token
    └── ReleaseFailed           a charged query could not be answered (the charge stands)

Each carries only safe text: never a submitted value, a token, or a password.
"""

from __future__ import annotations

__all__ = [
    "AlreadySubmitted",
    "BudgetExhausted",
    "Conflict",
    "CsrfFailed",
    "HsclinkError",
    "InvalidRequest",
    "NotAuthenticated",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ReleaseFailed",
    "UploadInProgress",
    "UploadOffsetMismatch",
    "UploadTooLarge",
]


class HsclinkError(Exception):
    title = "Request failed"

    def __init__(self, safe_detail: str = "") -> None:
        super().__init__(safe_detail)
        self.safe_detail = safe_detail


class NotAuthenticated(HsclinkError):
    title = "Authentication required"


class PermissionDenied(HsclinkError):
    title = "Not permitted"


class RateLimited(HsclinkError):
    title = "Too many attempts"

    def __init__(self, safe_detail: str = "", retry_after: int = 60) -> None:
        super().__init__(safe_detail)
        self.retry_after = retry_after


class NotFound(HsclinkError):
    title = "Not found"


class Conflict(HsclinkError):
    title = "Conflict"


class BudgetExhausted(Conflict):
    title = "Privacy budget exhausted"


class AlreadySubmitted(Conflict):
    """A file already accepted for the submitting organisation (same SHA-256) was sent
    again. Not a failure for the sender: nothing new is stored and the earlier submission
    stands, so clients may report it and stop (``submission_id`` names it)."""

    title = "Already submitted"

    def __init__(self, submission_id: int) -> None:
        super().__init__(f"this file was already accepted as submission {submission_id}")
        self.submission_id = submission_id


class UploadOffsetMismatch(Conflict):
    """A PATCH starts at an offset other than where the committed rows end (tus 409): a
    client that asked HEAD just before an earlier request of its own committed one more
    batch. Worth resending at once from the offset HEAD now gives."""

    title = "Upload offset mismatch"


class UploadInProgress(Conflict):
    """Two requests stream one submission at once (a client retried while its first
    connection was still being read): the one that finds the other ahead stops. Worth
    retrying from the offset HEAD gives once the other has finished or stopped."""

    title = "Upload in progress"


class InvalidRequest(HsclinkError):
    title = "Invalid request"


class UploadTooLarge(InvalidRequest):
    """A PATCH whose body would run past the submission's Upload-Length (tus: 413)."""

    title = "Upload too large"


class CsrfFailed(HsclinkError):
    title = "Form expired or forged"


class ReleaseFailed(HsclinkError):
    title = "The query could not be answered"
