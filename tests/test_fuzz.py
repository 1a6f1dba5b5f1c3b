"""Property-based fuzzing of the two readers that take outside input: model files and pictures.

Whatever the bytes or the array, only the project's own documented exception comes out:
``core.modelio.load_model`` raises ModelFileError (or returns a usable model), and
``core.drawing.preprocess_canvas`` / ``preprocess_image`` raise DrawingError or return 784
finite pixels in [0, 1]. (The IDX reader is fuzzed in tests/test_idx.py.)

Bounded: about 200 examples per property, no deadline; the whole file runs in ~15 s.
"""
import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from core.drawing import PreprocessOptions, preprocess_canvas, preprocess_image
from core.errors import DrawingError, ModelFileError
from core.model import MLP, ModelConfig
from core.modelio import SavedModel, load_model, save_model

pytestmark = pytest.mark.timeout(120)
FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


# -- model files -----------------------------------------------------------------------------------
def _valid_model_bytes():
    model = MLP(ModelConfig(hidden_sizes=(6, 5)), np.random.default_rng(0))
    history = [{"step": s, "epoch": s / 10, "train_loss": 2.0 / s, "train_accuracy": 0.5,
                "val_loss": 2.1 / s, "val_accuracy": 0.4, "learning_rate": 0.1,
                "elapsed": 0.1 * s, "samples_per_second": 100.0} for s in (1, 2, 3)]
    saved = SavedModel(model=model, dataset="mnist", train_config={"learning_rate": 0.1},
                       history=history, metrics={"test_accuracy": 0.9})
    with tempfile.TemporaryDirectory() as folder:
        return save_model(Path(folder) / "m.npz", saved).read_bytes()


VALID = _valid_model_bytes()


def _arrays(data):
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _npz(arrays, compressed=False):
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def check_load(data):
    """load_model either returns a model that can predict, or raises ModelFileError."""
    try:
        saved = load_model(data)
    except ModelFileError as e:
        assert str(e), "a refusal says why"
        return None
    probabilities = saved.model.predict_proba(np.zeros((2, 784), np.float32))
    assert probabilities.shape == (2, 10) and np.isfinite(probabilities).all()
    return saved


def test_the_valid_file_loads():
    assert check_load(VALID) is not None


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_are_refused(data):
    assert check_load(data) is None


@FUZZ
@given(st.binary(max_size=64))
def test_random_bytes_behind_a_zip_signature_are_refused(data):
    assert check_load(b"PK\x03\x04" + data) is None


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(1, 255)),
                min_size=1, max_size=8))
def test_flipped_bytes_give_a_model_or_a_model_file_error(flips):
    data = bytearray(VALID)
    for position, mask in flips:
        data[position] ^= mask
    check_load(bytes(data))


@FUZZ
@given(st.integers(0, len(VALID) - 1))
def test_every_truncation_is_refused(length):
    assert check_load(VALID[:length]) is None


ARRAY_DTYPES = st.sampled_from([np.float16, np.float32, np.float64, np.int8, np.int64, np.uint8,
                                np.bool_, np.complex64, "U3", "S2", "datetime64[s]"])


def random_array(draw):
    dtype = np.dtype(draw(ARRAY_DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))
    if dtype.kind == "f":
        return draw(hnp.arrays(dtype, shape, elements=st.floats(width=dtype.itemsize * 8,
                                                                allow_nan=True, allow_infinity=True)))
    return draw(hnp.arrays(dtype, shape))


@st.composite
def mutated_arrays(draw):
    """The valid file's arrays with some replaced, removed, added, or the meta JSON edited."""
    arrays = _arrays(VALID)
    keys = sorted(arrays)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["replace", "remove", "add", "meta", "reshape"]))
        key = draw(st.sampled_from(keys))
        if action == "replace":
            arrays[key] = random_array(draw)
        elif action == "remove":
            arrays.pop(key, None)
        elif action == "add":
            arrays[draw(st.sampled_from(["extra", "layers.9.W", "history.step", "layers.0.b"]))] = \
                random_array(draw)
        elif action == "reshape" and key in arrays and arrays[key].size:
            arrays[key] = arrays[key].reshape(-1)[:draw(st.integers(0, arrays[key].size))]
        elif action == "meta" and "meta" in arrays:
            try:                            # an earlier action may have replaced it already
                meta = json.loads(str(arrays["meta"][()]))
            except (ValueError, TypeError, IndexError):
                continue
            if not isinstance(meta, dict):
                continue
            field = draw(st.sampled_from(["model_config", "dataset", "scaling", "format_version",
                                          "format", "metrics", "train_config"]))
            meta[field] = draw(st.one_of(
                st.none(), st.integers(-10, 10**6), st.text(max_size=8),
                st.lists(st.integers(-5, 5000), max_size=4),
                st.fixed_dictionaries({"hidden_sizes": st.lists(st.integers(-3, 5000), max_size=3),
                                       "activation": st.sampled_from(["relu", "nope", ""]),
                                       "input_size": st.integers(-1, 1000)})))
            arrays["meta"] = np.array(json.dumps(meta))
    return arrays, draw(st.booleans())


@FUZZ
@given(mutated_arrays())
def test_mutated_model_files_give_a_model_or_a_model_file_error(case):
    arrays, compressed = case
    check_load(_npz(arrays, compressed))


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")   # the bomb is built so
def test_a_zip_bomb_inside_the_model_file_is_refused_without_inflating_it():
    """A third of a megabyte that inflates to 320 MB: refused from the sizes the archive declares."""
    arrays = _arrays(VALID)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            with archive.open(f"{key}.npy", "w") as f:
                np.lib.format.write_array(f, value)
        with archive.open("history.elapsed.npy", "w", force_zip64=True) as f:
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": "<f8", "fortran_order": False, "shape": (20 * 2**21,)})
            f.write(header.getvalue())
            zeros = bytes(2**24)
            for _ in range(20):                              # 320 MB of zeros, ~0.3 MB deflated
                f.write(zeros)
    data = buffer.getvalue()
    assert len(data) < 4 * 2**20
    with pytest.raises(ModelFileError, match="uncompressed|too large|larger"):
        load_model(data)


def test_an_array_header_claiming_a_huge_shape_is_refused():
    """The .npy header says 10^12 floats but the member holds a few bytes: no MemoryError."""
    arrays = _arrays(VALID)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for key, value in arrays.items():
            if key == "layers.0.b":
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
                archive.writestr(f"{key}.npy", header.getvalue() + bytes(64))
            else:
                with archive.open(f"{key}.npy", "w") as f:
                    np.lib.format.write_array(f, value)
    with pytest.raises(ModelFileError):
        load_model(buffer.getvalue())


# -- drawings and pictures ------------------------------------------------------------------------
IMAGE_DTYPES = st.sampled_from([np.uint8, np.uint16, np.int16, np.int32, np.int64, np.float16,
                                np.float32, np.float64, np.bool_, np.uint32, np.int8])


@st.composite
def image_arrays(draw):
    dtype = np.dtype(draw(IMAGE_DTYPES))
    ndim = draw(st.sampled_from([0, 1, 2, 2, 3, 3, 4]))
    shape = tuple(draw(st.lists(st.integers(0, 40), min_size=ndim, max_size=ndim)))
    if ndim == 3:
        shape = shape[:2] + (draw(st.sampled_from([0, 1, 2, 3, 4, 5])),)
    if dtype.kind == "f":
        elements = st.one_of(st.floats(0, 1, width=min(32, dtype.itemsize * 8)),
                             st.floats(width=min(32, dtype.itemsize * 8)),
                             st.sampled_from([0.0, 1.0, 255.0, np.nan, np.inf, -np.inf, -1.0]))
        if dtype.itemsize == 2:
            elements = st.sampled_from([0.0, 0.5, 1.0, 255.0, 300.0, np.nan, np.inf, -1.0])
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        info = np.iinfo(dtype)
        elements = st.one_of(st.integers(0, min(255, int(info.max))),
                             st.integers(int(info.min), int(info.max)))
    array = draw(hnp.arrays(dtype, shape, elements=elements))
    if array.ndim >= 2 and array.size and draw(st.booleans()):
        # a structured picture too, not only noise: a bar of ink on a plain background
        h, w = array.shape[:2]
        array = array.copy()
        array[...] = 0
        ink = 1.0
        if dtype.kind in "iu":
            ink = draw(st.sampled_from([1, min(255, int(np.iinfo(dtype).max))]))
        elif dtype.kind == "b":
            ink = True
        array[h // 4: max(h // 4 + 1, 3 * h // 4), w // 2: w // 2 + max(1, w // 8)] = ink
    return array


OPTIONS = st.builds(PreprocessOptions, crop=st.booleans(), fit_box=st.booleans(),
                    center_of_mass=st.booleans(), normalize_stroke=st.booleans())


def check_pixels(result):
    """784 finite pixels in [0, 1]; "empty" (the page asks for a drawing instead of guessing)
    exactly when there is no ink at all."""
    assert result.pixels.shape == (784,)
    assert np.isfinite(result.pixels).all()
    assert result.pixels.min() >= 0.0 and result.pixels.max() <= 1.0
    assert result.empty == (not result.pixels.any()), (result.empty, result.pixels.max())
    for title, image in result.steps:
        assert isinstance(title, str) and image.ndim == 2


@pytest.mark.parametrize("preprocess", [preprocess_canvas, preprocess_image])
@FUZZ
@given(array=image_arrays(), options=OPTIONS)
def test_preprocessing_gives_pixels_in_range_or_a_drawing_error(preprocess, array, options):
    try:
        result = preprocess(array, options)
    except DrawingError as e:
        assert str(e), "a refusal says why"
        return
    check_pixels(result)


@pytest.mark.parametrize("preprocess", [preprocess_canvas, preprocess_image])
@pytest.mark.parametrize("value", [1000, 2**31 - 1])
def test_integer_pixels_above_255_are_refused_or_scaled(preprocess, value):
    """int32 pixels of 1000 are neither 8-bit nor 16-bit: a clear error, not pixels above 1."""
    array = np.zeros((28, 28), np.int32)
    array[5:23, 12:16] = value
    try:
        result = preprocess(array)
    except DrawingError as e:
        assert "0 and 255" in str(e) or "pixel values" in str(e)
        return
    check_pixels(result)
