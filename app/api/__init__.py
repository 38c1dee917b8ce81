"""The HTTP API under /api/v1: routes parse, call a service, serialise.

Each router carries its full prefix, so ``route.path`` is the whole template (the
access log and the route-policy test rely on it).
"""

__all__ = ["API_PREFIX"]

API_PREFIX = "/api/v1"
