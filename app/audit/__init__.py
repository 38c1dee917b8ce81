"""The tamper-evident audit log: hash chain, RFC 9162 Merkle tree, signed C2SP checkpoints."""
