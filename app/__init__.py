"""hsclink: privacy-preserving linkage of NHS and adult social care data."""

from pathlib import Path

__all__ = ["REPO_ROOT", "__version__"]

__version__ = "0.1.0"

#: The source tree: migrations/ and policies/ live beside the packages (editable install).
REPO_ROOT = Path(__file__).resolve().parent.parent
