"""Issue 16, finding 6: dataset files have a size cap, checked before the checksum.

A 1 MB gzip bomb in the cache (or from a mirror, one of which is plain http) used to inflate to
gigabytes before its SHA-256 was even computed. Now a gzip inflates to at most what its IDX
header promises (and never beyond the official size of that file, or MAX_IDX_BYTES), a download
stops reading beyond that, and a file too large on disk is refused from its size.
"""
import gzip
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import download
from core.datasets import load_dataset
from core.errors import DatasetError, DownloadError
from core.idx import MAX_IDX_BYTES, decompress, encode_idx, parse_idx, read_idx
from tests.conftest import checksum_table, tiny_dataset
from tests.helpers.hostile import gzip_bomb
from tests.helpers.procs import json_lines, run_child

MB = 2**20


def cache_with_bomb(folder, real_bytes=1 << 30):
    """A cache folder whose training images are a bomb (the other three files are fine)."""
    mnist = folder / "mnist"
    mnist.mkdir(parents=True)
    files = tiny_dataset()
    for name, data in files.items():
        (mnist / f"{name}.gz").write_bytes(gzip.compress(data))
    (mnist / "train-images-idx3-ubyte.gz").write_bytes(gzip_bomb(60_000, real_bytes))
    return mnist


def test_a_gzip_bomb_stops_at_what_its_header_promises():
    bomb = gzip_bomb(10, 1 << 30)                       # ~1 MB, header: 10 images (7,856 bytes)
    start = time.perf_counter()
    with pytest.raises(DatasetError, match="7,856 bytes its header promises"):
        decompress(bomb, "bomb")
    assert time.perf_counter() - start < 0.5


def test_a_header_promising_too_much_is_refused_before_inflating():
    with pytest.raises(DatasetError, match="says it holds"):
        decompress(gzip_bomb(4_000_000_000, 1 << 20), "liar")
    with pytest.raises(DatasetError, match="says it holds"):
        parse_idx(gzip_bomb(10**9, 1 << 20), "liar")


def test_a_bomb_in_the_cache_is_skipped_fast_in_little_memory(tmp_path):
    """970 KB in the cache peaked at 2 GB and delayed the first page by 9 s."""
    cache_with_bomb(tmp_path)
    code = f"""
import json, os, warnings
warnings.simplefilter("ignore")
os.environ.pop("NN_DATA_DIR", None)                    # no data folder: the cache is read
from tests.helpers.procs import limit_address_space, measured
from core.datasets import load_dataset, read_sample
read_sample("mnist")                                   # warm up the sample's reader
limit_address_space(300 * 2**20)
result = {{}}
def load():
    raw = load_dataset("mnist", cache_dir={str(tmp_path)!r}, download=False)
    result["raw"] = raw
    return raw.source
outcome, seconds, peak = measured(load)
print(json.dumps({{"outcome": outcome, "seconds": seconds, "peak": peak,
                  "notes": " ".join(result["raw"].notes) if "raw" in result else ""}}))
"""
    result = json_lines(run_child(code))[0]
    print(result)
    assert result["outcome"] == "sample", result
    assert "promises" in result["notes"]
    assert result["seconds"] < 2 and result["peak"] < 150 * MB


def test_the_cache_never_inflates_beyond_the_official_size(tmp_path, monkeypatch):
    """A bomb whose header says 60,000 images (the official 47 MB) but inflates to 48 MB is
    stopped at 47 MB, before any checksum."""
    monkeypatch.delenv("NN_DATA_DIR", raising=False)       # no data folder: the cache is read
    mnist = cache_with_bomb(tmp_path, real_bytes=48 * MB)
    with pytest.warns(RuntimeWarning, match="promises"):
        raw = load_dataset("mnist", cache_dir=tmp_path, download=False)
    assert raw.source == "sample"
    assert (mnist / "train-images-idx3-ubyte.gz").exists()      # left for the user to look at


def test_a_bomb_from_a_mirror_is_refused_before_its_checksum(tmp_path, mirror, monkeypatch):
    monkeypatch.delenv("NN_OFFLINE", raising=False)
    files = tiny_dataset()
    mirror.routes["/m/train-labels-idx1-ubyte.gz"] = ("ok", gzip_bomb(30, 256 * MB, kind="labels"))
    start = time.perf_counter()
    with pytest.raises(DownloadError, match="its header promises"):
        download.download_file("mnist", "train-labels-idx1-ubyte", tmp_path,
                               mirrors=[mirror.url + "/m/"], checksums=checksum_table(files))
    assert time.perf_counter() - start < 2
    assert not list(tmp_path.iterdir())


def test_a_download_is_refused_from_its_content_length(mirror):
    mirror.routes["/big.gz"] = ("ok", bytes(3 * MB))
    with pytest.raises(DownloadError, match="offers 3,145,728 bytes"):
        download.fetch(mirror.url + "/big.gz", max_bytes=MB)


def test_a_download_without_a_length_stops_reading_at_the_cap():
    sent = []

    class Endless(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"                      # no Content-Length: read until close

        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(64):                        # 64 MB if nobody stops reading
                    self.wfile.write(bytes(MB))
                    sent.append(1)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with pytest.raises(DownloadError, match="more than 2,097,152 bytes"):
            download.fetch(f"http://127.0.0.1:{server.server_address[1]}/x.gz", max_bytes=2 * MB)
    finally:
        server.shutdown()
        server.server_close()


def test_official_files_are_capped_at_their_official_sizes():
    assert download.expected_bytes("train-images-idx3-ubyte") == 47_040_016
    assert download.expected_bytes("t10k-labels-idx1-ubyte") == 10_008
    assert download.expected_bytes("train-images-idx3-ubyte", {"mnist": {}}) == MAX_IDX_BYTES


def test_a_file_too_large_on_disk_is_refused_from_its_size(tmp_path):
    huge = tmp_path / "train-images-idx3-ubyte"
    with open(huge, "wb") as f:
        f.truncate(MAX_IDX_BYTES + 1)                       # sparse: costs no disk
    start = time.perf_counter()
    with pytest.raises(DatasetError, match="at most 200 MB"):
        read_idx(huge)
    assert time.perf_counter() - start < 0.5


def test_a_fifo_in_a_data_folder_is_refused_without_blocking(tmp_path):
    import os
    fifo = tmp_path / "t10k-labels-idx1-ubyte"
    os.mkfifo(fifo)
    with pytest.raises(DatasetError, match="not a regular file"):
        read_idx(fifo)


def test_good_files_still_decompress_exactly():
    raw = encode_idx(np.arange(1000, dtype=np.uint8) % 10)
    assert decompress(gzip.compress(raw)) == raw
    assert decompress(gzip.compress(raw[:100]) + gzip.compress(raw[100:])) == raw   # two members
    assert decompress(raw) == raw


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(["images", "labels"]), count=st.integers(0, 5000),
       extra=st.integers(-20, 20_000), members=st.integers(1, 3), cut=st.integers(0, 40))
def test_any_gzip_gives_at_most_its_promise_or_a_dataset_error(kind, count, extra, members, cut):
    header = (struct.pack(">IIII", 0x803, count, 28, 28) if kind == "images"
              else struct.pack(">II", 0x801, count))
    promised = len(header) + count * (784 if kind == "images" else 1)
    body = header + bytes(max(0, promised - len(header) + extra))
    step = max(1, len(body) // members)
    data = b"".join(gzip.compress(body[i:i + step]) for i in range(0, len(body), step))
    data = data[:len(data) - cut] if cut else data
    try:
        out = decompress(data, "fuzz")
    except DatasetError as e:
        assert "fuzz" in str(e)
        return
    if data[:2] != b"\x1f\x8b":                         # cut down to less than a gzip: raw bytes
        assert out == data
    else:
        # whole members may have been cut off: what inflates is the start of the body
        assert len(out) <= promised and body.startswith(out)
