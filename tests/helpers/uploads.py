"""Pictures a visitor uploads, measured as the Draw page decodes them: the worst we could make
(accepted or just refused), each decoded and preprocessed in a fresh process under an
address-space limit (RLIMIT_AS = what the process had + DECODE_BUDGET_BYTES + MARGIN_BYTES).

    measure_uploads({name: bytes}) -> {name: {"outcome", "seconds", "peak", "size"}}
    worst_pictures(quick)          -> {description: bytes}

Shared by benchmarks/hardening.py and tests/test_upload_memory.py.
"""
import json
import os
import tempfile
from pathlib import Path

from tests.helpers.procs import json_lines, limit_address_space, measured, run_child

MARGIN_BYTES = 64 * 2**20        # address space the child may take above the budget (libraries, slack)


def upload_path(data):
    """What the Draw page does with an upload: decode, then preprocess for MNIST."""
    from app.inputs.pictures import decode_upload
    from core.drawing import options_for, preprocess_image
    grey = decode_upload(data, "The picture")
    result = preprocess_image(grey, options_for("mnist"))
    return f"ok: {grey.shape[1]} x {grey.shape[0]} grey, {'empty' if result.empty else 'a digit'}"


def warm_up_decoders():
    """Load every decoder's library and the preprocessing caches once, so that the limit and the
    peaks count the upload, not the first import of libjpeg or libwebp."""
    from tests.helpers.hostile import pillow_picture, png
    for data in (png(40, 30), pillow_picture(40, 30, "RGB", "JPEG"),
                 pillow_picture(40, 30, "RGB", "JPEG", progressive=True),
                 pillow_picture(40, 30, "RGB", "WEBP"), pillow_picture(40, 30, "P", "GIF"),
                 pillow_picture(40, 30, "RGB", "BMP"), png(3000, 2, 6, 16)):
        upload_path(data)


def child_uploads(paths, limit):
    """In a fresh process: warm up, limit the address space, then measure each picture file."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    warm_up_decoders()
    if limit:
        limit_address_space(limit)
    for path in paths:
        data = Path(path).read_bytes()
        outcome, seconds, peak = measured(upload_path, data)
        print(json.dumps({"path": path, "outcome": outcome, "seconds": seconds, "peak": peak}),
              flush=True)
        del data

def measure_uploads(pictures, limit=None):
    """{name: {"outcome", "seconds", "peak", "size"}} for {name: bytes}, in one limited child."""
    from app.inputs.pictures import DECODE_BUDGET_BYTES
    limit = DECODE_BUDGET_BYTES + MARGIN_BYTES if limit is None else limit
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for i, (name, data) in enumerate(pictures.items()):
            paths[name] = os.path.join(folder, f"{i}.bin")
            Path(paths[name]).write_bytes(data)
        completed = run_child("from tests.helpers.uploads import child_uploads; "
                              f"child_uploads({list(paths.values())!r}, {limit})")
        results = {line["path"]: line for line in json_lines(completed)}
        out = {}
        for name, path in paths.items():
            line = results.get(path) or {"outcome": f"child died: {completed.returncode} "
                                                    f"{completed.stderr[-2000:]}",
                                         "seconds": float("nan"), "peak": 0}
            out[name] = {**line, "size": len(pictures[name])}
        return out


# -- the pictures ------------------------------------------------------------------------------------
class Header:
    """What decode_cost reads from an opened picture, without a picture."""

    def __init__(self, size, mode, fmt, info=None):
        self.size, self.mode, self.format, self.info = size, mode, fmt, info or {}

    def getbands(self):
        return tuple(self.mode.split(";")[0]) if self.mode not in ("I;16", "I", "F") else ("I",)


def largest_side(mode, fmt, data=b"", info=None, aspect=1.0):
    """The largest width (height = width / aspect) that decode_cost accepts, by bisection."""
    from app.inputs.pictures import DECODE_BUDGET_BYTES, MAX_UPLOAD_PIXELS, decode_cost
    lo, hi = 1, 200_000
    while lo < hi:
        mid = (lo + hi + 1) // 2
        size = (mid, max(1, round(mid / aspect)))
        fits = (size[0] * size[1] <= MAX_UPLOAD_PIXELS
                and decode_cost(Header(size, mode, fmt, info), data) <= DECODE_BUDGET_BYTES)
        lo, hi = (mid, hi) if fits else (lo, mid - 1)
    return int(lo * 0.995)               # the real file's own bytes count too


def worst_pictures(quick=False):
    """{description: bytes}: the worst pictures we could make, accepted or just refused."""
    from app.inputs.pictures import MAX_UPLOAD_BYTES
    from tests.helpers.hostile import pillow_picture, png
    fake_png = lambda colour, depth: b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(8) + bytes([depth, colour])
    pictures = {
        "the issue's PNG: 900,000 x 1 RGBA": png(900_000, 1, 6, 8),
        "1 x 900,000 grey PNG": png(1, 900_000, 0, 8),
        "30,000,000 x 1 grey PNG": png(30_000_000, 1, 0, 8),
        "49,000,000 x 1 grey PNG (just over the budget)": png(49_000_000, 1, 0, 8),
        "7,000 x 7,000 RGBA PNG (49 MP, the issue's 2.2 GB)": png(7000, 7000, 6, 8),
    }
    side = largest_side("RGBA", "PNG", fake_png(6, 16))
    pictures[f"{side:,} x {side:,} 16-bit RGBA PNG (largest accepted)"] = png(side, side, 6, 16)
    side = largest_side("I;16", "PNG", fake_png(0, 16))
    pictures[f"{side:,} x {side:,} 16-bit grey PNG (largest accepted)"] = png(side, side, 0, 16)
    side = largest_side("P", "PNG", fake_png(3, 8))
    pictures[f"{side:,} x {side:,} palette PNG with transparency (largest accepted)"] = png(
        side, side, 3, 8, transparent=True)
    if not quick:
        side = largest_side("CMYK", "JPEG", info={"progressive": 1, "adobe_transform": 0})
        pictures[f"{side:,} x {side:,} progressive CMYK JPEG (largest accepted)"] = pillow_picture(
            side, side, "CMYK", "JPEG", progressive=True, quality=90)
        side = largest_side("RGBA", "WEBP")
        pictures[f"{side:,} x {side:,} RGBA WebP (largest accepted)"] = pillow_picture(
            side, side, "RGBA", "WEBP", lossless=True)
        side = min(largest_side("RGBA", "BMP"), int((0.95 * MAX_UPLOAD_BYTES / 4) ** 0.5))
        pictures[f"{side:,} x {side:,} RGBA BMP (largest accepted)"] = pillow_picture(
            side, side, "RGBA", "BMP")
    return pictures
