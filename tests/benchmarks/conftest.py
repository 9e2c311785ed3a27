"""The benchmark scripts import each other as top-level modules, as `python benchmarks/x.py` runs them."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
