"""Server-rendered pages (Jinja2, no JavaScript build): sign-in, home per role, audit."""

from pathlib import Path

__all__ = ["WEB_DIR"]

WEB_DIR = Path(__file__).resolve().parent
