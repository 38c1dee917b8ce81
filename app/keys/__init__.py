"""The key store: envelope-encrypted key material behind a small interface."""
