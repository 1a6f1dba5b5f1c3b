"""core.handwriting: a drawings set <-> MNIST-format IDX files (a folder, or the app's zip), and
every bad upload refused with a clear message before it costs memory."""
import gzip
import io
import struct
import zipfile

import numpy as np
import pytest

from core.errors import DatasetError
from core.handwriting import (
    MAX_DRAWINGS,
    SKETCH_SIDE,
    Drawings,
    encode_files,
    from_zip,
    read_dir,
    sketch_of,
    to_zip,
    write_dir,
)
from core.idx import encode_idx


def a_set(n=23, seed=0):
    """A set of ``n`` random drawings with every class, as the Draw page builds it."""
    rng = np.random.default_rng(seed)
    drawings = Drawings.empty()
    for i in range(n):
        canvas = np.zeros((280, 280, 4), np.uint8)
        canvas[..., 3] = 255
        canvas[40 + i:200, 120:140 + i, :3] = 255
        drawings = drawings.add(rng.random(784).astype(np.float32), i % 10, sketch_of(canvas))
    return drawings


def zipped(files):
    """The bytes of a zip of {name: bytes}."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def same(a, b):
    return (np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
            and np.array_equal(a.sketches, b.sketches))


# -- the set ----------------------------------------------------------------------------------------
def test_a_set_grows_and_shrinks_without_changing_the_old_one():
    empty = Drawings.empty()
    one = empty.add(np.full(784, 0.5, np.float32), 7)
    assert len(empty) == 0 and len(one) == 1
    assert one.labels.tolist() == [7] and one.images[0, 0] == 128           # 0.5 -> 128, rounded
    assert one.sketches.shape == (1, SKETCH_SIDE, SKETCH_SIDE)               # pixels, enlarged
    two = one.add(np.zeros(784), 3)
    assert two.remove(0).labels.tolist() == [3] and one.labels.tolist() == [7]
    assert two.counts().tolist() == [0, 0, 0, 1, 0, 0, 0, 1, 0, 0]
    assert not two.images.flags.writeable                                    # shared safely
    assert two.fingerprint() != one.fingerprint() and two.fingerprint() == two.take([0, 1]).fingerprint()


@pytest.mark.parametrize("label", [-1, 10, 2.0, True, "3"])
def test_a_label_is_a_class_number(label):
    with pytest.raises(DatasetError, match="0 to 9"):
        Drawings.empty().add(np.zeros(784), label)


def test_a_full_set_says_what_to_do():
    full = Drawings(np.zeros((MAX_DRAWINGS, 784), np.uint8), np.zeros(MAX_DRAWINGS, np.uint8),
                    np.zeros((MAX_DRAWINGS, SKETCH_SIDE, SKETCH_SIDE), np.uint8))
    with pytest.raises(DatasetError, match=f"the most a set can hold \\({MAX_DRAWINGS}\\). Delete"):
        full.add(np.zeros(784), 1)


def test_the_sketch_of_a_canvas_and_of_a_dark_on_light_picture():
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[100:180, 130:150, :3] = 255                                       # a white bar
    sketch = sketch_of(canvas)
    assert sketch.shape == (56, 56) and sketch.dtype == np.uint8
    assert sketch[28, 28] == 255 and sketch[5, 5] == 0
    paper = np.full((100, 60), 255, np.uint8)                                # not square
    paper[20:80, 25:35] = 0                                                  # dark ink
    sketch = sketch_of(paper)
    assert sketch[28, 28] > 200 and sketch[2, 28] == 0                       # light ink on black


# -- round trips ------------------------------------------------------------------------------------
def test_the_zip_round_trip_keeps_every_drawing_and_is_the_same_bytes_each_time():
    drawings = a_set()
    data = to_zip(drawings, dataset="mnist")
    assert data == to_zip(drawings, dataset="mnist")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names == ["my-train-images-idx3-ubyte.gz", "my-train-labels-idx1-ubyte.gz",
                     "my-train-sketches-idx3-ubyte.gz", "README.txt"]
    assert same(from_zip(data), drawings)


def test_the_files_are_mnist_format(tmp_path):
    """What the download holds reads like MNIST's own files: gzip, magic, big-endian counts."""
    drawings = a_set(12)
    files = encode_files(drawings)
    images = gzip.decompress(files["my-train-images-idx3-ubyte.gz"])
    labels = gzip.decompress(files["my-train-labels-idx1-ubyte.gz"])
    assert struct.unpack(">IIII", images[:16]) == (0x803, 12, 28, 28)
    assert struct.unpack(">II", labels[:8]) == (0x801, 12)
    assert np.array_equal(np.frombuffer(images, np.uint8, offset=16).reshape(12, 784), drawings.images)


@pytest.mark.parametrize("compress", [True, False])
def test_the_folder_round_trip(tmp_path, compress):
    drawings = a_set()
    paths = write_dir(drawings, tmp_path / "mine", compress=compress)
    assert all(p.name.endswith(".gz") == compress for p in paths)
    assert not list((tmp_path / "mine").glob(".*"))                 # no temporary files left
    back = read_dir(tmp_path / "mine")
    assert np.array_equal(back.images, drawings.images) and np.array_equal(back.labels, drawings.labels)
    assert same(read_dir(tmp_path / "mine", sketches=True), drawings)


def test_a_folder_with_other_files_and_any_prefix_is_read(tmp_path):
    drawings = a_set(10)
    (tmp_path / "anna-images-idx3-ubyte").write_bytes(encode_idx(drawings.images))
    (tmp_path / "anna-labels-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(drawings.labels)))
    (tmp_path / "notes.txt").write_text("my digits")
    assert np.array_equal(read_dir(tmp_path).labels, drawings.labels)


def test_a_zip_made_by_hand_from_a_folder_is_read():
    drawings = a_set(10)
    data = zipped({"digits/x-images-idx3-ubyte": encode_idx(drawings.images),
                   "digits/x-labels-idx1-ubyte": encode_idx(drawings.labels),
                   "__MACOSX/digits/._x-images-idx3-ubyte": b"junk"})
    back = from_zip(data)
    assert np.array_equal(back.images, drawings.images)
    assert back.sketches.shape == (10, 56, 56)                      # enlarged pixels stand in


# -- bad uploads ------------------------------------------------------------------------------------
def good_files(n=10):
    drawings = a_set(n)
    return {"a-images-idx3-ubyte": encode_idx(drawings.images),
            "a-labels-idx1-ubyte": encode_idx(drawings.labels)}


def with_file(name, data):
    """A zip of a good set with the file ``name`` replaced (or its .gz twin in its place)."""
    files = good_files()
    files.pop(name.removesuffix(".gz"), None)
    files[name] = data
    return zipped(files)


HUGE_IMAGES = struct.pack(">IIII", 0x803, 0xFFFFFFFF, 28, 28) + bytes(784)
HUGE_GZIP = gzip.compress(struct.pack(">IIII", 0x803, 10, 28, 28) + bytes(50_000_000))  # 49 kB


@pytest.mark.parametrize("data,message", [
    (b"", "is empty"),
    (b"hello, not a zip", "not a zip file"),
    (gzip.compress(b"x"), "single gzip file, not a zip"),
    (b"PK\x03\x04" + bytes(100), "damaged or not a plain zip"),
    (zipped({"notes.txt": b"hi"}), "has no images and no labels file"),
    (zipped({"a-images-idx3-ubyte": good_files()["a-images-idx3-ubyte"]}), "has no labels file"),
    (with_file("b-images-idx3-ubyte", b""), "holds 2 images files"),
    (with_file("a-images-idx3-ubyte", struct.pack(">IIII", 0x0000DEAD, 10, 28, 28) + bytes(7840)),
     "magic number is 0x0000dead, expected 0x00000803"),
    (with_file("a-labels-idx1-ubyte", struct.pack(">IIII", 0x803, 1, 28, 28) + bytes(784)),
     "magic number is 0x00000803, expected 0x00000801"),
    (with_file("a-labels-idx1-ubyte", encode_idx(np.zeros(9, np.uint8))),
     "holds 10 images but a-labels-idx1-ubyte holds 9 labels"),
    (with_file("a-labels-idx1-ubyte", encode_idx(np.full(10, 12, np.uint8))),
     "label 12 of drawing 1 is not a class"),
    (with_file("a-images-idx3-ubyte", HUGE_IMAGES), "declares 4,294,967,295 images; a set may "
                                                     f"hold at most {MAX_DRAWINGS}"),
    (with_file("a-images-idx3-ubyte", struct.pack(">IIII", 0x803, 10, 32, 32) + bytes(10240)),
     "holds 32x32 images; drawings here are 28x28"),
    (with_file("a-images-idx3-ubyte", good_files()["a-images-idx3-ubyte"][:-5]), "truncated"),
    (with_file("a-images-idx3-ubyte", gzip.compress(good_files()["a-images-idx3-ubyte"])[:-30]),
     "truncated gzip"),
    (with_file("a-images-idx3-ubyte.gz", HUGE_GZIP), "unpacks to more than"),
    (with_file("a-labels-idx1-ubyte", encode_idx(np.zeros(0, np.uint8))), "holds 0 labels"),
    (zipped({f"f{i}.txt": b"" for i in range(40)}), "holds 40 files"),
    (bytes(5 * 2**20), "a drawings zip may be at most 4 MB"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_a_bad_upload_is_refused_with_a_clear_message(data, message):
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_zip(data)


def test_the_declared_size_of_a_zip_member_is_checked_before_it_is_inflated():
    """A zip bomb: a member that declares (and deflates to) 50 MB in a few kB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a-images-idx3-ubyte", struct.pack(">IIII", 0x803, 10, 28, 28)
                         + bytes(50_000_000))
        archive.writestr("a-labels-idx1-ubyte", encode_idx(np.zeros(10, np.uint8)))
    assert len(buffer.getvalue()) < 200_000
    with pytest.raises(DatasetError, match="50,000,016 bytes unpacked"):
        from_zip(buffer.getvalue())


def test_an_empty_set_is_refused():
    data = zipped({"a-images-idx3-ubyte": encode_idx(np.zeros((0, 784), np.uint8)),
                   "a-labels-idx1-ubyte": encode_idx(np.zeros(0, np.uint8))})
    with pytest.raises(DatasetError, match="holds no drawings"):
        from_zip(data)


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "nowhere", "does not exist"),
    (lambda p: (p / "file.txt").write_text("x") and p / "file.txt", "is a file, not a folder"),
    (lambda p: p, "has no images and no labels file"),
])
def test_a_bad_folder_is_refused_with_a_clear_message(tmp_path, make, message):
    with pytest.raises(DatasetError, match=message):
        read_dir(make(tmp_path))


def test_the_mnist_folder_itself_is_two_sets(tmp_path):
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(DatasetError, match="holds 2 images files .* one set of drawings per folder"):
        read_dir(tmp_path)


def test_a_huge_file_in_a_folder_is_refused_from_its_size(tmp_path):
    drawings = a_set(10)
    write_dir(drawings, tmp_path)
    big = tmp_path / "my-train-labels-idx1-ubyte.gz"
    big.write_bytes(bytes(200_000))
    with pytest.raises(DatasetError, match="a file of at most 100 drawings takes at most"):
        read_dir(tmp_path, max_drawings=100)
