"""The ``hsclink`` command."""
