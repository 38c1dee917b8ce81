"""Where the installed package keeps its policies, migrations and dataset schemas.

They ship inside the ``app`` package (``app/_resources/``), so an installed wheel runs
without the source tree. In a checkout, ``app/_resources/<name>`` is a symbolic link to
the top-level directory of the same name (``policies/`` stays where IG officers and
operators read it); a wheel build copies the files behind the links into the package.
Either way the path is resolved through :mod:`importlib.resources`, never from the
current directory or the checkout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

__all__ = ["ResourceName", "resource_dir"]

ResourceName = Literal["policies", "migrations", "datasets"]


def resource_dir(name: ResourceName) -> Path:
    """The directory of one kind of packaged resource, inside the installed ``app``.

    A real filesystem path (Alembic and the policy loader read directories): hsclink is
    installed unzipped, as pip always installs wheels.
    """
    root = files("app") / "_resources" / name
    if not isinstance(root, Path):
        raise RuntimeError(f"hsclink's {name} are not on the filesystem; install it unzipped")
    return root
