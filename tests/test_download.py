"""The downloader against a local HTTP server on 127.0.0.1: good files, bad checksums, cut
connections, dead mirrors. Nothing half-written may ever be left in the cache.

The server (``LocalMirror``, the ``mirror`` fixture) is in tests/conftest.py: test_datasets.py uses
it too."""
import re
import socket

import numpy as np
import pytest

from core import download
from core.errors import DatasetError, DownloadError
from core.idx import read_idx
from tests.conftest import checksum_table, tiny_dataset


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("NN_OFFLINE", raising=False)
    monkeypatch.delenv("NN_MIRRORS", raising=False)


def dead_url():
    """A URL on 127.0.0.1 where nobody listens: the connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_file_is_verified_saved_and_reported(tmp_path, mirror, online):
    files = tiny_dataset(n_train=200)  # ~157 kB: several chunks
    mirror.serve("/a/", files)
    calls = []
    path = download.download_file(
        "mnist", "train-images-idx3-ubyte", tmp_path, mirrors=[mirror.url + "/a/"],
        checksums=checksum_table(files), progress=lambda *args: calls.append(args))
    assert path == tmp_path / "train-images-idx3-ubyte.gz"
    assert read_idx(path).shape == (200, 784)
    assert leftovers(tmp_path) == ["train-images-idx3-ubyte.gz"]
    size = len(path.read_bytes())
    done = [c[0] for c in calls]
    assert len(calls) > 3 and done == sorted(done) and calls[0][1] == size and done[-1] == size
    messages = [c[2] for c in calls if c[2]]  # one line per event, not one per chunk
    assert messages[0].startswith("Downloading http://127.0.0.1") and len(messages) == 2


def test_raw_file_from_a_mirror_is_stored_raw(tmp_path, mirror, online):
    files = tiny_dataset()
    mirror.serve("/a/", files, compress=False)
    path = download.download_file("mnist", "t10k-labels-idx1-ubyte", tmp_path,
                                  mirrors=[mirror.url + "/a/"], checksums=checksum_table(files))
    assert path.name == "t10k-labels-idx1-ubyte"
    assert path.read_bytes() == files["t10k-labels-idx1-ubyte"]


def test_checksum_mismatch_moves_on_to_the_next_mirror(tmp_path, mirror, online):
    files = tiny_dataset()
    mirror.serve("/bad/", tiny_dataset(seed=1))  # same shapes, other pixels
    mirror.serve("/good/", files)
    path = download.download_file(
        "mnist", "train-images-idx3-ubyte", tmp_path,
        mirrors=[mirror.url + "/bad/", mirror.url + "/good/"], checksums=checksum_table(files))
    assert mirror.requests == ["/bad/train-images-idx3-ubyte.gz", "/good/train-images-idx3-ubyte.gz"]
    expected = np.frombuffer(files["train-images-idx3-ubyte"], np.uint8, offset=16)
    np.testing.assert_array_equal(read_idx(path), expected.reshape(30, 784))


def test_checksum_mismatch_everywhere_leaves_nothing(tmp_path, mirror, online):
    files = tiny_dataset()
    mirror.serve("/bad1/", tiny_dataset(seed=1))
    mirror.serve("/bad2/", tiny_dataset(seed=2))
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as error:
        download.download_file("mnist", "train-images-idx3-ubyte", cache,
                               mirrors=[mirror.url + "/bad1/", mirror.url + "/bad2/"],
                               checksums=checksum_table(files))
    message = str(error.value)
    assert message.count("checksum mismatch") == 2
    assert "/bad1/train-images-idx3-ubyte.gz" in message and "/bad2/" in message
    assert leftovers(cache) == []


def test_connection_cut_halfway(tmp_path, mirror, online):
    files = tiny_dataset(n_train=200)
    mirror.serve("/cut/", files, mode="cut")
    with pytest.raises(DownloadError, match="connection was cut"):
        download.download_file("mnist", "train-images-idx3-ubyte", tmp_path,
                               mirrors=[mirror.url + "/cut/"], checksums=checksum_table(files))
    assert leftovers(tmp_path) == []  # nothing half-written, no *.tmp


def test_every_mirror_is_named_with_its_own_failure(tmp_path, mirror, online):
    files = tiny_dataset()
    mirror.routes["/teapot/train-labels-idx1-ubyte.gz"] = (418, b"")
    mirror.routes["/html/train-labels-idx1-ubyte.gz"] = ("ok", b"<html>moved</html>")
    dead = dead_url()
    with pytest.raises(DownloadError) as error:
        download.download_file(
            "mnist", "train-labels-idx1-ubyte", tmp_path, timeout=2,
            mirrors=[mirror.url + "/missing/", mirror.url + "/teapot/", mirror.url + "/html/", dead],
            checksums=checksum_table(files))
    message = str(error.value)
    assert "HTTP 404" in message and "HTTP 418" in message
    assert "checksum mismatch" in message  # the HTML page
    assert f"{dead}train-labels-idx1-ubyte.gz: cannot connect" in message
    assert "--data-dir" in message  # says what the user can do
    assert isinstance(error.value, DatasetError)
    assert leftovers(tmp_path) == []


def test_download_dataset_fetches_what_is_missing_and_keeps_what_is_good(tmp_path, mirror, online):
    files = tiny_dataset()
    mirror.serve("/mnist/", files)
    table = checksum_table(files)
    paths = download.download_dataset("mnist", tmp_path, mirrors=[mirror.url + "/mnist/"],
                                      checksums=table)
    assert sorted(paths) == sorted(download.FILE_NAMES)
    assert len(mirror.requests) == 4
    # damage one file: only that one is fetched again
    paths["t10k-labels-idx1-ubyte"].write_bytes(b"\x1f\x8b garbage")
    download.download_dataset("mnist", tmp_path, mirrors=[mirror.url + "/mnist/"], checksums=table)
    assert mirror.requests[4:] == ["/mnist/t10k-labels-idx1-ubyte.gz"]
    assert read_idx(paths["t10k-labels-idx1-ubyte"]).tolist() == list(range(10))
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_the_settings_mirrors_with_dataset_placeholder(tmp_path, mirror, online):
    from core import settings
    files = tiny_dataset()
    mirror.serve("/files/fashion-mnist/", files)
    mirrors = settings.get({"NN_MIRRORS": f"{dead_url()}, {mirror.url}/files/{{dataset}}"}).mirrors
    assert download.mirrors_for("fashion-mnist", mirrors)[1] == \
        f"{mirror.url}/files/fashion-mnist/"
    download.download_dataset("fashion-mnist", tmp_path, timeout=2, mirrors=mirrors,
                              checksums=checksum_table(files, "fashion-mnist"))
    assert len(list(tmp_path.glob("*.gz"))) == 4


def test_official_mirrors_and_checksums_are_complete(online):
    assert download.mirrors_for("mnist") == download.MIRRORS["mnist"]
    assert len(download.MIRRORS["fashion-mnist"]) == 2
    for dataset in ("mnist", "fashion-mnist"):
        assert sorted(download.SHA256[dataset]) == sorted(download.FILE_NAMES)
        assert all(re.fullmatch("[0-9a-f]{64}", h) for h in download.SHA256[dataset].values())
    assert download.CONNECT_TIMEOUT <= 5  # the app's first start offline must not hang


def test_offline_never_touches_the_network(tmp_path, mirror):
    from core.datasets import clear_memory_cache, load_dataset
    mirror.serve("/mnist/", tiny_dataset())
    clear_memory_cache()
    raw = load_dataset("mnist", download=False, cache_dir=tmp_path,
                       mirrors=[mirror.url + "/{dataset}/"])
    assert raw.source == "sample" and any("switched off" in note for note in raw.notes)
    assert mirror.requests == []
    clear_memory_cache()


def test_unwritable_cache_fails_before_downloading(tmp_path, mirror, online):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    mirror.serve("/mnist/", tiny_dataset())
    with pytest.raises(OSError):
        download.download_dataset("mnist", blocker / "mnist", mirrors=[mirror.url + "/mnist/"])
    assert mirror.requests == []


def test_no_network_is_one_clear_line_and_no_retry_within_the_process(tmp_path, online,
                                                                       monkeypatch):
    from core.datasets import load_dataset
    monkeypatch.delenv("NN_DATA_DIR", raising=False)       # no data folder: the cache, then mirrors
    monkeypatch.setenv("NN_MIRRORS", dead_url())
    heard = []
    raw = load_dataset("mnist", cache_dir=tmp_path, progress=lambda d, t, m: m and heard.append(m))
    assert raw.source == "sample"
    assert len(heard) == 1 and heard[0].startswith("No network"), heard
    assert "--data-dir" in heard[0] and "run again when online" in heard[0]
    calls = []
    monkeypatch.setattr(download, "fetch", lambda *a, **k: calls.append(a) or b"")
    heard.clear()
    raw = load_dataset("fashion-mnist", cache_dir=tmp_path,
                       progress=lambda d, t, m: m and heard.append(m))
    assert raw.source == "sample" and calls == [], "not tried again within the process"
    assert len(heard) == 1 and heard[0].startswith("No network")
