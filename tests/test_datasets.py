"""Where a dataset comes from (folder > cache > download > bundled sample), what it holds, and how
it is split and scaled."""
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from core import datasets, download
from core.datasets import CLASS_NAMES, DATASETS, RawDataset, make_splits, scale_pixels
from core.errors import ConfigError, DatasetError
from core.idx import decompress, write_idx
from tests.conftest import checksum_table, tiny_dataset

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NN_SHARED_DATASETS") or ROOT.parent / "shared" / "datasets")


SOURCES = {}          # what the tests' load_dataset passes: the cache, downloading, the mirrors


def load_dataset(name, data_dir=None, **options):
    """core.datasets.load_dataset with this test's cache folder, and downloading only once a test
    went online (core reads no environment: the CLI and the app pass these)."""
    return datasets.load_dataset(name, data_dir, **{**SOURCES, **options})


@pytest.fixture(autouse=True)
def isolated(tmp_path):
    """Never the user's cache, never the network, never a dataset kept from another test."""
    SOURCES.clear()
    SOURCES.update(cache_dir=tmp_path / "cache", download=False, mirrors=None)
    datasets.clear_memory_cache()
    yield
    datasets.clear_memory_cache()


def write_files(folder, files, compress=True):
    """Write {official name: raw IDX bytes} as IDX files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        target = folder / (f"{name}.gz" if compress else name)
        if compress:
            target.write_bytes(gzip.compress(data))
        else:
            target.write_bytes(data)
    return folder


@pytest.fixture
def official(monkeypatch):
    """Pretend a tiny dataset is the official MNIST: its checksums replace the real ones."""
    files = tiny_dataset(n_train=40, n_test=20)
    monkeypatch.setitem(download.SHA256, "mnist", checksum_table(files)["mnist"])
    return files


def go_online(monkeypatch, mirror, files):
    mirror.serve("/mnist/", files)
    SOURCES.update(download=True, mirrors=[mirror.url + "/{dataset}/"])


# --- names ---------------------------------------------------------------------------------------

def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="mnist, fashion-mnist"):
        load_dataset("cifar10")


def test_class_names():
    assert DATASETS == ("mnist", "fashion-mnist")
    assert CLASS_NAMES["mnist"] == tuple("0123456789")
    assert CLASS_NAMES["fashion-mnist"] == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


# --- the bundled samples -------------------------------------------------------------------------

@pytest.mark.parametrize("name,title", [("mnist", "MNIST"), ("fashion-mnist", "Fashion-MNIST")])
def test_bundled_sample_loads_balanced_and_describes_itself(name, title):
    raw = load_dataset(name)
    assert raw.source == "sample"
    assert raw.describe() == f"{title} from the bundled sample: 10,000 training + 2,000 test images"
    assert raw.train_images.shape == (10_000, 784) and raw.train_images.dtype == np.uint8
    assert raw.test_images.shape == (2_000, 784) and raw.test_labels.dtype == np.uint8
    assert np.bincount(raw.train_labels, minlength=10).tolist() == [1000] * 10
    assert np.bincount(raw.test_labels, minlength=10).tolist() == [200] * 10
    assert raw.train_images.max() == 255 and raw.train_images.min() == 0
    assert any("switched off" in note for note in raw.notes)
    meta = datasets.sample_meta(name)
    assert meta["train_count"] == 10_000 and meta["test_count"] == 2_000
    assert ("CC BY-SA 3.0" if name == "mnist" else "MIT") in meta["licence"]
    assert datasets.sample_path(name).stat().st_size < 6_000_000


def test_loaded_arrays_are_read_only_and_kept_in_memory():
    raw = load_dataset("mnist")
    assert load_dataset("mnist") is raw
    with pytest.raises(ValueError):
        raw.train_images[0, 0] = 1
    with pytest.raises(ValueError):
        raw.train_labels[0] = 1


# --- the order of sources ------------------------------------------------------------------------

def test_named_folder_comes_first(tmp_path, official, mirror, monkeypatch):
    write_files(tmp_path / "data" / "mnist", tiny_dataset(n_train=50, n_test=10, seed=3))
    write_files(tmp_path / "cache" / "mnist", official)
    go_online(monkeypatch, mirror, official)
    raw = load_dataset("mnist", tmp_path / "data")
    assert raw.source == "folder" and len(raw.train_labels) == 50
    assert raw.describe() == (f"MNIST from the folder {tmp_path / 'data' / 'mnist'}: "
                              f"50 training + 10 test images")
    assert mirror.requests == []


def test_data_dir_a_flat_folder(tmp_path):
    write_files(tmp_path / "flat", tiny_dataset(n_train=50, n_test=10), compress=False)
    raw = load_dataset("mnist", tmp_path / "flat")
    assert raw.source == "folder" and raw.location == str(tmp_path / "flat")


def test_cache_comes_before_download(tmp_path, official, mirror, monkeypatch):
    write_files(tmp_path / "cache" / "mnist", official)
    go_online(monkeypatch, mirror, official)
    raw = load_dataset("mnist")
    assert raw.source == "cache" and len(raw.train_labels) == 40
    assert mirror.requests == []


def test_download_into_the_cache_then_the_cache(tmp_path, official, mirror, monkeypatch):
    go_online(monkeypatch, mirror, official)
    messages = []
    raw = load_dataset("mnist", progress=lambda done, total, message: messages.append(message))
    assert raw.source == "download" and len(raw.train_labels) == 40
    assert raw.describe().startswith("MNIST from a download into")
    assert len(mirror.requests) == 4 and any("Downloading" in m for m in messages)
    cached = sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir())
    assert cached == sorted(f"{name}.gz" for name in download.FILE_NAMES)  # no *.tmp
    datasets.clear_memory_cache()
    assert load_dataset("mnist").source == "cache" and len(mirror.requests) == 4


def test_sample_comes_last_when_nothing_else_works(mirror, official, monkeypatch):
    go_online(monkeypatch, mirror, {})  # the mirror answers 404 to everything
    messages = []
    raw = load_dataset("mnist", progress=lambda done, total, message: messages.append(message))
    assert raw.source == "sample" and len(raw.train_labels) == 10_000
    assert any("HTTP 404" in m for m in messages)
    assert any("Could not download MNIST" in note for note in raw.notes)


def test_download_false_goes_straight_to_the_sample(official, mirror, monkeypatch):
    go_online(monkeypatch, mirror, official)
    raw = load_dataset("mnist", download=False)
    assert raw.source == "sample" and mirror.requests == []


def test_damaged_cache_is_reported_and_skipped(tmp_path, official):
    cache = write_files(tmp_path / "cache" / "mnist", official)
    (cache / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08 not really gzip")
    with pytest.warns(RuntimeWarning, match="damaged"):
        raw = load_dataset("mnist")
    assert raw.source == "sample" and "damaged" in raw.notes[0]


def test_damaged_cache_is_downloaded_again(tmp_path, official, mirror, monkeypatch):
    cache = write_files(tmp_path / "cache" / "mnist", official)
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    go_online(monkeypatch, mirror, official)
    messages = []
    raw = load_dataset("mnist", progress=lambda *args: messages.append(args[2]))
    assert raw.source == "download" and any("damaged" in m for m in messages)
    assert mirror.requests == ["/mnist/t10k-labels-idx1-ubyte.gz"]


def test_cache_with_other_pixels_fails_the_checksum(tmp_path, official):
    write_files(tmp_path / "cache" / "mnist", tiny_dataset(n_train=40, n_test=20, seed=9))
    with pytest.warns(RuntimeWarning, match="checksum"):
        assert load_dataset("mnist").source == "sample"


def test_unwritable_cache_falls_back_to_the_sample(tmp_path, official, mirror, monkeypatch):
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    SOURCES["cache_dir"] = tmp_path / "blocked"
    go_online(monkeypatch, mirror, official)
    with pytest.warns(RuntimeWarning, match="NN_CACHE_DIR"):
        raw = load_dataset("mnist")
    assert raw.source == "sample"
    assert any("Cannot save MNIST in the cache folder" in note for note in raw.notes)
    assert mirror.requests == []  # found out before downloading anything


def test_full_disk_while_saving_falls_back_to_the_sample(tmp_path, official, mirror, monkeypatch):
    go_online(monkeypatch, mirror, official)

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core.idx.os.replace", disk_full)
    with pytest.warns(RuntimeWarning, match="No space left"):
        raw = load_dataset("mnist")
    assert raw.source == "sample"
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []  # no half file, no *.tmp


# --- a named folder that is broken is an error, not a fallback ----------------------------------

def test_missing_named_folder(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nowhere")


def test_named_folder_without_the_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no MNIST files.*train-images-idx3-ubyte.gz"):
        load_dataset("mnist", tmp_path / "empty")


def test_named_folder_with_a_missing_file(tmp_path):
    files = tiny_dataset()
    del files["t10k-labels-idx1-ubyte"]
    write_files(tmp_path / "mnist", files)
    with pytest.raises(DatasetError, match="lacks t10k-labels-idx1-ubyte"):
        load_dataset("mnist", tmp_path)


def test_named_folder_with_a_truncated_file(tmp_path):
    folder = write_files(tmp_path / "mnist", tiny_dataset(), compress=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DatasetError, match="truncated: expected 23,536 bytes, found 1,000"):
        load_dataset("mnist", tmp_path)


def test_images_and_labels_that_do_not_belong_together(tmp_path):
    files = tiny_dataset(n_train=30)
    folder = write_files(tmp_path / "mnist", files)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(29, np.uint8))
    with pytest.raises(DatasetError, match="30 train images but 29 train labels"):
        load_dataset("mnist", tmp_path)


def test_labels_out_of_range(tmp_path):
    folder = write_files(tmp_path / "mnist", tiny_dataset(n_test=10))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(10, 12, np.uint8))
    with pytest.raises(DatasetError, match="label is 12, expected 0..9"):
        load_dataset("mnist", tmp_path)


def test_swapped_files(tmp_path):
    files = tiny_dataset()
    files["train-labels-idx1-ubyte"], files["train-images-idx3-ubyte"] = (
        files["train-images-idx3-ubyte"], files["train-labels-idx1-ubyte"])
    write_files(tmp_path / "mnist", files)
    with pytest.raises(DatasetError, match="not swapped"):
        load_dataset("mnist", tmp_path)


# --- splits and scaling --------------------------------------------------------------------------

@pytest.fixture
def raw():
    return datasets.read_sample("mnist")


def test_splits_sizes_types_and_disjoint(raw):
    splits = make_splits(raw, 1000, rng=np.random.default_rng(7))
    assert splits.X_train.shape == (9000, 784) and splits.X_val.shape == (1000, 784)
    assert splits.X_test.shape == (2000, 784) and splits.X_train.dtype == np.float32
    assert splits.y_train.dtype == splits.y_val.dtype == splits.y_test.dtype == np.int64
    assert not set(splits.train_indices) & set(splits.val_indices)
    assert sorted(np.concatenate([splits.train_indices, splits.val_indices])) == list(range(10_000))
    np.testing.assert_array_equal(splits.y_val, raw.train_labels[splits.val_indices])
    np.testing.assert_array_equal(splits.X_val * 255, raw.train_images[splits.val_indices])
    np.testing.assert_array_equal(splits.y_test, raw.test_labels)


def test_splits_are_seeded(raw):
    first = make_splits(raw, 500, rng=np.random.default_rng(1))
    again = make_splits(raw, 500, rng=np.random.default_rng(1))
    other = make_splits(raw, 500, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(first.val_indices, again.val_indices)
    assert not np.array_equal(first.val_indices, other.val_indices)
    np.testing.assert_array_equal(make_splits(raw, 500).val_indices,
                                  make_splits(raw, 500).val_indices)  # rng=None is seed 0


def test_validation_fraction_and_zero(raw):
    assert len(make_splits(raw, 0.25).y_val) == 2500
    empty = make_splits(raw, 0)
    assert empty.X_val.shape == (0, 784) and empty.y_val.shape == (0,)
    assert empty.X_train.shape == (10_000, 784)


@pytest.mark.parametrize("size", [10_000, 20_000, 1.0, 1.5, -1, -0.1, True, "500"])
def test_validation_that_leaves_no_training_is_refused(raw, size):
    with pytest.raises(ConfigError):
        make_splits(raw, size)


def test_scaling_ranges(raw):
    unit = make_splits(raw, 100, scaling="unit")
    symmetric = make_splits(raw, 100, scaling="symmetric", dtype=np.float64)
    assert unit.X_train.min() == 0.0 and unit.X_train.max() == 1.0
    assert symmetric.X_train.min() == -1.0 and symmetric.X_train.max() == 1.0
    assert symmetric.X_train.dtype == np.float64 and symmetric.scaling == "symmetric"
    pixels = np.array([[0, 51, 255]], np.uint8)
    np.testing.assert_allclose(scale_pixels(pixels), [[0, 0.2, 1]], rtol=1e-6)
    np.testing.assert_allclose(scale_pixels(pixels, "symmetric"), [[-1, -0.6, 1]], rtol=1e-6)


def test_scaling_refuses_floats_and_unknown_names():
    with pytest.raises(ConfigError, match="uint8"):
        scale_pixels(np.ones((1, 784), np.float32))
    with pytest.raises(ConfigError, match="unit, symmetric"):
        scale_pixels(np.ones((1, 784), np.uint8), "zscore")


# --- the real thing --------------------------------------------------------------------------------

@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason=f"no full datasets at {SHARED}")
@pytest.mark.parametrize("name", DATASETS)
def test_full_official_files_load_and_pass_the_checksums(name):
    raw = datasets.read_folder(name, SHARED / name, verify=True)  # checks every SHA-256
    assert isinstance(raw, RawDataset)
    assert raw.train_images.shape == (60_000, 784) and raw.test_images.shape == (10_000, 784)
    assert raw.describe().endswith("60,000 training + 10,000 test images")
    labels = download.cached_file(SHARED / name, "t10k-labels-idx1-ubyte").read_bytes()
    assert (hashlib.sha256(decompress(labels)).hexdigest()
            == download.SHA256[name]["t10k-labels-idx1-ubyte"])
