"""The chaos suite: ``make chaos`` (1,000 orders, 200 subscriptions); see :mod:`starter.chaos.main`.

.venv/bin/python scripts/chaos.py --seed 7 --orders 60 --subscriptions 9 --duration 60
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starter.chaos.main import main

if __name__ == "__main__":
    sys.exit(main())
