import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Tests never reach the network and never touch the user's cache.
os.environ.setdefault("NN_OFFLINE", "1")
