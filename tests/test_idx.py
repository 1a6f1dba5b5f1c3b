"""The IDX reader refuses every kind of broken file with a message that says what is wrong."""
import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DatasetError
from core.idx import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    encode_idx,
    parse_idx,
    read_idx,
    write_bytes_atomic,
    write_idx,
)


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(7, 784), dtype=np.uint8)  # (N, 784)


@pytest.fixture
def labels():
    return np.array([3, 1, 4, 1, 5, 9, 2], dtype=np.uint8)


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip_gzip_and_raw(tmp_path, images, labels, compress):
    image_path = write_idx(tmp_path / "images", images, compress=compress)
    label_path = write_idx(tmp_path / "labels", labels, compress=compress)
    assert (image_path.read_bytes()[:2] == b"\x1f\x8b") == compress
    read_images, read_labels = read_idx(image_path), read_idx(label_path)
    assert read_images.shape == (7, 784) and read_images.dtype == np.uint8
    assert read_labels.shape == (7,) and read_labels.dtype == np.uint8
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "labels"]  # no *.tmp left


def test_header_is_the_official_layout(images):
    data = encode_idx(images)
    assert struct.unpack(">IIII", data[:16]) == (IMAGES_MAGIC, 7, 28, 28)
    assert len(data) == 16 + 7 * 784
    assert struct.unpack(">II", encode_idx(np.zeros(5, np.uint8))[:8]) == (LABELS_MAGIC, 5)


def test_parse_from_bytes_gzip_or_raw(images):
    raw = encode_idx(images)
    np.testing.assert_array_equal(parse_idx(raw), images)
    np.testing.assert_array_equal(parse_idx(gzip.compress(raw)), images)
    assert parse_idx(raw).flags.writeable


def test_truncated_file_says_expected_and_found(tmp_path):
    # the official training images: 60,000 x 28 x 28 + 16 bytes of header
    header = struct.pack(">IIII", IMAGES_MAGIC, 60000, 28, 28)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(header + bytes(1000 - len(header)))
    with pytest.raises(DatasetError, match=r"is truncated: expected 47,040,016 bytes, found 1,000"):
        read_idx(path)


def test_truncated_gzip_payload_is_reported(tmp_path, labels):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(encode_idx(labels)[:-3]))
    with pytest.raises(DatasetError, match="truncated: expected 15 bytes, found 12"):
        read_idx(path)


def test_header_cut_short(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(struct.pack(">I", IMAGES_MAGIC) + b"\x00\x00")
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.gz"
    path.write_bytes(b"")
    with pytest.raises(DatasetError, match=r"empty \(0 bytes\)"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_idx(tmp_path / "nowhere.gz")


@pytest.mark.parametrize("magic", [0x00000000, 0x00000802, 0x00000D03, 0x08030000])
def test_wrong_magic(tmp_path, magic):
    path = tmp_path / "bad"
    path.write_bytes(struct.pack(">II", magic, 1) + b"\x00")
    with pytest.raises(DatasetError, match=f"magic number is 0x{magic:08x}"):
        read_idx(path)


def test_html_error_page_is_not_an_idx_file():
    with pytest.raises(DatasetError, match="not an MNIST-style IDX file"):
        parse_idx(b"<html><body>404 Not Found</body></html>", source="download")


def test_too_long_payload(tmp_path, labels):
    path = tmp_path / "labels"
    path.write_bytes(encode_idx(labels) + b"\x00\x00")
    with pytest.raises(DatasetError, match="wrong length.*2 extra"):
        read_idx(path)


def test_corrupt_gzip(tmp_path, images):
    good = gzip.compress(encode_idx(images))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(DatasetError, match="corrupt gzip"):
        read_idx(cut)
    garbled = tmp_path / "garbled.gz"
    garbled.write_bytes(good[:10] + bytes(b ^ 0xFF for b in good[10:40]) + good[40:])
    with pytest.raises(DatasetError, match="corrupt gzip"):
        read_idx(garbled)


def test_expected_kind_catches_swapped_files(tmp_path, images):
    path = write_idx(tmp_path / "train-labels-idx1-ubyte.gz", images)
    with pytest.raises(DatasetError, match="holds images, but labels were expected"):
        read_idx(path, expect="labels")


def test_write_refuses_what_idx_cannot_hold(tmp_path):
    with pytest.raises(DatasetError, match="uint8"):
        write_idx(tmp_path / "f", np.zeros((2, 784), np.float32))
    with pytest.raises(DatasetError, match="28x28"):
        write_idx(tmp_path / "f", np.zeros((2, 100), np.uint8))
    assert not list(tmp_path.iterdir())


def test_atomic_write_leaves_old_file_when_it_fails(tmp_path, monkeypatch):
    path = tmp_path / "data.gz"
    path.write_bytes(b"old")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core.idx.os.replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        write_bytes_atomic(path, b"new contents")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.gz"]  # no temporary file left


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 5), rows=st.integers(1, 6), cols=st.integers(1, 6),
       compress=st.booleans(), cut=st.integers(0, 10_000), seed=st.integers(0, 2**16))
def test_any_file_round_trips_and_any_prefix_is_refused_cleanly(n, rows, cols, compress, cut, seed):
    images = np.random.default_rng(seed).integers(0, 256, (n, rows, cols), dtype=np.uint8)
    data = encode_idx(images)
    if compress:
        data = gzip.compress(data)
    np.testing.assert_array_equal(parse_idx(data), images.reshape(n, rows * cols))
    prefix = data[: cut % len(data)]  # always shorter than the whole file
    with pytest.raises(DatasetError):
        parse_idx(prefix)
