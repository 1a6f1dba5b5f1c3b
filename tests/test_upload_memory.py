"""Issue 16, finding 1: a tiny picture must not make the server allocate gigabytes.

Every picture goes through the whole upload path (app.draw_views.decode_upload, then
core.drawing.preprocess_image) in a fresh process whose address space is limited
(RLIMIT_AS = what it had + the decode budget + 64 MB): a regression fails with MemoryError here
instead of swapping the machine. The hypothesis fuzz of shapes, modes and bit depths runs inside
such a process too.
"""
import io
import math
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.inputs.pictures import DECODE_BUDGET_BYTES, MAX_UPLOAD_PIXELS, decode_cost, decode_upload
from core.drawing import WORKING_BYTES, block_mean, preprocess_image
from core.errors import DrawingError
from tests.helpers.hostile import pillow_picture, png
from tests.helpers.procs import json_lines, run_child
from tests.helpers.uploads import measure_uploads, worst_pictures

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS, /proc"),
              pytest.mark.timeout(600)]

MB = 2**20


def accepted_or_refused(result):
    return result["outcome"].startswith(("ok", "DrawingError"))


def test_the_issues_strip_pictures_decode_within_the_budget():
    """A 15 KB PNG 900,000 px wide and 1 px tall asked for 3 GB (rows padded to whole blocks)."""
    results = measure_uploads({"wide": png(900_000, 1, 6, 8), "tall": png(1, 900_000, 0, 8),
                               "30M x 1": png(30_000_000, 1, 0, 8)})
    for name, result in results.items():
        print(f"{name}: {result['peak'] / MB:.1f} MB, {result['seconds']:.2f} s, {result['outcome']}")
        assert result["outcome"].startswith("ok"), (name, result)
        assert result["peak"] <= DECODE_BUDGET_BYTES, (name, result)


def test_the_worst_pictures_stay_within_the_budget_or_are_refused_with_a_message():
    results = measure_uploads(worst_pictures())
    for name, result in results.items():
        print(f"{name}: {result['size'] / 1024:,.0f} KB, peak {result['peak'] / MB:.1f} MB, "
              f"{result['seconds']:.2f} s, {result['outcome'][:100]}")
        assert accepted_or_refused(result), (name, result)
        assert result["peak"] <= DECODE_BUDGET_BYTES, (name, result)
    accepted = [name for name, r in results.items() if r["outcome"].startswith("ok")]
    assert len(accepted) >= 6, accepted         # the largest accepted of each kind really decode
    big = results["7,000 x 7,000 RGBA PNG (49 MP, the issue's 2.2 GB)"]
    assert "more than the 200 MB" in big["outcome"] and big["peak"] < 10 * MB


def test_a_refused_picture_is_refused_from_its_header_before_decoding():
    data = png(7000, 7000, 6, 16)                              # 7 MB decoded... 392 MB as RGBA
    with pytest.raises(DrawingError, match=r"7,000 x 7,000 pixels \(RGBA\).*200 MB"):
        decode_upload(data)


def test_decode_cost_grows_with_the_pixels_not_their_square():
    from tests.helpers.uploads import Header
    small = decode_cost(Header((10_000, 1), "L", "PNG"))
    big = decode_cost(Header((1_000_000, 1), "L", "PNG"))
    assert big < 100 * small + 50 * MB


def test_core_preprocessing_of_any_shape_stays_within_its_working_bytes():
    """core alone, given arrays of extreme shapes: beyond the input, at most WORKING_BYTES."""
    code = f"""
import json, numpy as np
from tests.helpers.procs import limit_address_space, measured
from core.drawing import preprocess_image, preprocess_canvas
cases = {{"1 x 90M uint8": np.zeros((1, 90_000_000), np.uint8),
          "90M x 1 uint8": np.zeros((90_000_000, 1), np.uint8),
          "5000 x 5000 RGBA": np.zeros((5000, 5000, 4), np.uint8),
          "2 x 10M float64": np.zeros((2, 10_000_000)),
          "3 x 20M x 2 uint16": np.zeros((3, 20_000_000, 2), np.uint16)}}
for a in cases.values():
    a[..., a.shape[-1] // 3: 2 * a.shape[-1] // 3] = 200 if a.ndim == 2 else 0
    if a.ndim == 3:
        a[a.shape[0] // 3: 2 * a.shape[0] // 3 + 1] = 200
preprocess_image(np.eye(40, dtype=np.uint8) * 255)             # warm up
limit_address_space({WORKING_BYTES} + 64 * 2**20)
for name, a in cases.items():
    for f in (preprocess_image, preprocess_canvas):
        outcome, seconds, peak = measured(lambda: str(f(a).empty))
        print(json.dumps({{"name": f"{{f.__name__}} {{name}}", "outcome": outcome, "peak": peak,
                          "seconds": seconds}}), flush=True)
"""
    completed = run_child(code)
    lines = json_lines(completed)
    assert len(lines) == 10, completed.stderr[-3000:]
    for line in lines:
        print(line)
        assert line["outcome"] in ("True", "False") or line["outcome"].startswith("DrawingError"), line
        assert line["peak"] <= WORKING_BYTES, line


def test_block_mean_averages_partial_blocks_over_the_pixels_they_have():
    x = np.arange(35, dtype=np.float32).reshape(5, 7)
    got = block_mean(x, 3)
    want = [[x[r:r + 3, c:c + 3].mean() for c in range(0, 7, 3)] for r in range(0, 5, 3)]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_white_picture_with_a_partial_last_block_keeps_white_paper():
    """Blocks at the right and bottom edges used to be padded with black: on white paper that
    drew a dark border, which could flip the paper colour the border median decides."""
    image = np.full((2050, 2050), 255, np.uint8)               # k = 3: one row and column left over
    image[500:1500, 950:1100] = 0
    result = preprocess_image(image)
    assert not result.empty and result.steps[0][1][-1].min() > 0.99    # the last row is paper


# -- hypothesis: the whole upload path, any shape, mode and bit depth, under the memory limit ---------
PNG_KINDS = [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16), (3, 1), (3, 2), (3, 4),
             (3, 8), (4, 8), (4, 16), (6, 8), (6, 16)]
PILLOW_KINDS = [("L", "JPEG", {}), ("RGB", "JPEG", {"progressive": True}), ("CMYK", "JPEG", {}),
                ("P", "GIF", {}), ("1", "BMP", {}), ("RGBA", "BMP", {}), ("RGB", "WEBP", {}),
                ("RGBA", "WEBP", {"lossless": True}), ("I;16", "PNG", {}), ("LA", "PNG", {}),
                ("F", "TIFF", {})]


@st.composite
def shapes(draw):
    """1 x 1 to extreme aspect ratios, up to a little over the pixel cap."""
    kind = draw(st.sampled_from(["small", "strip", "large"]))
    if kind == "small":
        return draw(st.integers(1, 80)), draw(st.integers(1, 80))
    if kind == "strip":
        long_side = draw(st.integers(1_000, 60_000_000))
        short = draw(st.integers(1, 3))
        return (long_side, short) if draw(st.booleans()) else (short, long_side)
    width = draw(st.integers(100, 9_000))
    height = draw(st.integers(100, max(100, min(9_000, (MAX_UPLOAD_PIXELS + 5_000_000) // width))))
    return width, height


@st.composite
def pictures(draw):
    width, height = draw(shapes())
    if draw(st.booleans()) or width * height > 4_000_000:       # streamed: any size is cheap
        colour, depth = draw(st.sampled_from(PNG_KINDS))
        return png(width, height, colour, depth, ink=draw(st.booleans()),
                   transparent=colour == 3 and draw(st.booleans()))
    mode, fmt, options = draw(st.sampled_from(PILLOW_KINDS))
    largest = {"WEBP": 16383, "JPEG": 65500, "GIF": 65535}.get(fmt)     # the formats' own limits
    if largest:
        width, height = min(width, largest), min(height, largest)
    return pillow_picture(width, height, mode, fmt, **options)


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          phases=(Phase.explicit, Phase.generate, Phase.shrink),
          suppress_health_check=list(HealthCheck))
@given(data=pictures())
def fuzz_upload_path(data):
    """Not collected by pytest: run by the test below inside a memory-limited process."""
    from tests.helpers.procs import measured
    from tests.helpers.uploads import upload_path
    outcome, seconds, peak = measured(upload_path, data)
    assert outcome.startswith(("ok", "DrawingError")), outcome
    assert peak <= DECODE_BUDGET_BYTES, (peak, outcome)


def test_fuzz_the_upload_path_under_a_memory_limit():
    code = f"""
from tests.helpers.procs import limit_address_space
from tests.helpers.uploads import warm_up_decoders
warm_up_decoders()
limit_address_space({DECODE_BUDGET_BYTES} + 128 * 2**20)   # + room for making the pictures
from tests.test_upload_memory import fuzz_upload_path
fuzz_upload_path()
print("fuzzed")
"""
    completed = run_child(code, timeout=540)
    assert completed.returncode == 0 and "fuzzed" in completed.stdout, completed.stderr[-4000:]


def test_a_png_that_lies_about_its_size_is_refused_cleanly():
    data = bytearray(png(40, 30, 0, 8))
    data[16:24] = (60_000).to_bytes(4, "big") * 2               # IHDR now says 60,000 x 60,000
    with pytest.raises(DrawingError):
        decode_upload(bytes(data))


@pytest.mark.parametrize("exif_orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow(exif_orientation):
    from PIL import Image, ImageOps
    array = (np.arange(12).reshape(3, 4) * 20).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = exif_orientation
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", exif=exif.tobytes())
    want = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buffer.getvalue()))))
    np.testing.assert_array_equal(decode_upload(buffer.getvalue()), want)


def test_a_large_picture_comes_back_reduced_like_core_would():
    data = png(3000, 2000, 0, 8)
    grey = decode_upload(data)
    assert grey.shape == (math.ceil(2000 / 3), 1000)
    assert not preprocess_image(grey).empty
