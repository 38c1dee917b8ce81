"""hsclink: privacy-preserving linkage of NHS and adult social care data."""

from pathlib import Path

__all__ = ["REPO_ROOT", "__version__"]

__version__ = "0.1.0"

#: The source tree, for tests and development tools only: the runtime reads its policies,
#: migrations and dataset schemas from the package (app/resources.py), and a test pins it.
REPO_ROOT = Path(__file__).resolve().parent.parent
