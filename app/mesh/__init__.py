"""MESH (NHS England's Message Exchange for Social Care and Health): the mailbox adapter.

``mapping`` reads the declarative file that says which sending mailbox is which
organisation and which workflow id is which dataset; ``client`` opens the mailbox with
NHS England's ``mesh-client`` from the settings. The use case (receive a message into
a submission, then acknowledge it) is ``app.services.mesh``.
"""
