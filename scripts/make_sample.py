"""Build the bundled samples core/data/mnist.npz and core/data/fashion-mnist.npz.

From the full, official IDX files (checked against their SHA-256) it draws, per dataset, a
stratified random sample with a fixed seed: 1,000 training and 200 test images of each of the 10
classes (10,000 + 2,000), kept in their original order, and saves them with np.savez_compressed:

    train_images (10000, 784) uint8   train_labels (10000,) uint8
    test_images  (2000, 784) uint8    test_labels  (2000,) uint8
    meta         JSON string: source, licence, seed, counts, checksums of the source files

Usage (from the project's root):
    python scripts/make_sample.py [FULL_DATASETS_DIR] [--seed 20240601] [--out core/data]
FULL_DATASETS_DIR holds mnist/ and fashion-mnist/ with the official .gz files
(default: ../shared/datasets relative to the project's root).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.datasets import DATASETS, NUM_CLASSES, read_folder  # noqa: E402
from core.download import FILE_NAMES, SHA256, cached_file  # noqa: E402
from core.idx import write_bytes_atomic  # noqa: E402

TRAIN_PER_CLASS = 1000
TEST_PER_CLASS = 200
DEFAULT_SEED = 20240601
PROVENANCE = {
    "mnist": {
        "source": "MNIST, Y. LeCun, C. Cortes, C. Burges, 'The MNIST database of handwritten "
                  "digits' (official IDX files)",
        "licence": "CC BY-SA 3.0 (Y. LeCun, C. Cortes, C. Burges)",
    },
    "fashion-mnist": {
        "source": "Fashion-MNIST, Zalando Research (H. Xiao, K. Rasul, R. Vollgraf 2017), "
                  "https://github.com/zalandoresearch/fashion-mnist (official IDX files)",
        "licence": "MIT (Zalando Research, Xiao, Rasul, Vollgraf 2017)",
    },
}


def stratified_indices(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``per_class`` random row numbers of each class 0..9, without replacement, sorted."""
    chosen = []
    for label in range(NUM_CLASSES):
        rows = np.flatnonzero(labels == label)
        if len(rows) < per_class:
            raise SystemExit(f"class {label} has only {len(rows)} images, {per_class} wanted")
        chosen.append(rng.choice(rows, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def build(name: str, full_dir: Path, out_dir: Path, seed: int) -> Path:
    folder = full_dir / name
    raw = read_folder(name, folder, verify=True)  # refuses files that are not the official ones
    if len(raw.train_labels) != 60_000 or len(raw.test_labels) != 10_000:
        raise SystemExit(f"{folder} is not the full {name}: {raw.describe()}")
    rng = np.random.default_rng(seed)
    train = stratified_indices(raw.train_labels, TRAIN_PER_CLASS, rng)
    test = stratified_indices(raw.test_labels, TEST_PER_CLASS, rng)
    meta = dict(PROVENANCE[name])
    meta.update({
        "dataset": name,
        "drawn_by": "scripts/make_sample.py: stratified random draw without replacement, "
                    "original order kept",
        "seed": seed,
        "train_count": int(len(train)), "test_count": int(len(test)),
        "train_per_class": TRAIN_PER_CLASS, "test_per_class": TEST_PER_CLASS,
        "full_train_count": int(len(raw.train_labels)), "full_test_count": int(len(raw.test_labels)),
        "source_sha256_decompressed": {base: SHA256[name][base] for base in FILE_NAMES},
        "source_files": [cached_file(folder, base).name for base in FILE_NAMES],
    })
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        train_images=raw.train_images[train], train_labels=raw.train_labels[train],
        test_images=raw.test_images[test], test_labels=raw.test_labels[test],
        meta=np.array(json.dumps(meta, sort_keys=True)),  # a unicode string: loads without pickle
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = write_bytes_atomic(out_dir / f"{name}.npz", buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()[:12]
    print(f"{path}: {len(train):,} training + {len(test):,} test images, "
          f"{path.stat().st_size:,} bytes (sha256 {digest}...)")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("full_dir", nargs="?", default=str(ROOT.parent / "shared" / "datasets"),
                        help="folder holding mnist/ and fashion-mnist/ (default ../shared/datasets)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", default=str(ROOT / "core" / "data"), help="output folder")
    parser.add_argument("--dataset", choices=DATASETS, action="append",
                        help="only this dataset (repeatable; default both)")
    args = parser.parse_args(argv)
    for name in args.dataset or DATASETS:
        build(name, Path(args.full_dir), Path(args.out), args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
