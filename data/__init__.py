"""Data shipped with Jer: schemas, the default rulebook and the Isfana demo workspace.

Installed as the package ``jer_data`` so the files are found both from a clone and
from an installed wheel.
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
SCHEMA_DIR = DATA_DIR / "schemas"
RULEBOOK_DIR = DATA_DIR / "rulebooks"
DEMO_DIR = DATA_DIR / "demo"
DEMO_WORKSPACE = DEMO_DIR / "isfana.gpkg"

__all__ = ["DATA_DIR", "DEMO_DIR", "DEMO_WORKSPACE", "RULEBOOK_DIR", "SCHEMA_DIR"]
