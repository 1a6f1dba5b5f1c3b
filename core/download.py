"""Download MNIST / Fashion-MNIST from the official mirrors into a cache folder, verified.

Each file is fetched whole into memory with urllib, checked against the SHA-256 of its
DECOMPRESSED bytes (the gzip wrapper differs between mirrors, the data does not), written to a
temporary file next to its final name and renamed, so the cache never holds half a file. When a
mirror fails in any way (no network, HTTP error, cut connection, wrong checksum) the next one is
tried; when all fail, DownloadError says what each mirror said.

Mirrors can be replaced with the ``mirrors`` argument (the CLI and the app pass ``NN_MIRRORS``):
base URLs separated by commas or spaces; ``{dataset}`` in a URL becomes the dataset's name, e.g.
``NN_MIRRORS=http://127.0.0.1:8000/{dataset}/``. Whether to download at all is the caller's
choice (``NN_OFFLINE=1`` in the CLI and the app).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .errors import DatasetError, DownloadError
from .idx import MAX_IDX_BYTES, decompress, is_gzip, parse_idx, read_file_bytes, write_bytes_atomic

# progress(done_bytes, total_bytes_or_None, message): message is non-empty when something new
# happens (a file starts downloading, is saved, a mirror fails); byte updates carry "".
Progress = Callable[[int, "int | None", str], None]

FILE_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
}

# SHA-256 of the decompressed IDX bytes (see ../shared/datasets/README.md).
SHA256: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

# Decompressed size of each official file (the same for MNIST and Fashion-MNIST): a download or a
# cached copy never inflates beyond it, and a download never reads more than it plus GZIP_SLACK.
OFFICIAL_BYTES = {
    "train-images-idx3-ubyte": 16 + 60_000 * 784,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 784,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}
GZIP_SLACK = 1 << 20        # gzip of incompressible data is a little larger than the data

CONNECT_TIMEOUT = 5.0  # seconds per socket operation: an offline machine gives up quickly
CHUNK_BYTES = 1 << 16
USER_AGENT = "nn-playground (Python urllib)"


def mirrors_for(dataset: str, mirrors: Sequence[str] | Mapping[str, Sequence[str]] | None = None
                ) -> tuple[str, ...]:
    """The base URLs to try for ``dataset``: the ``mirrors`` argument, else MIRRORS.

    ``mirrors`` may be a sequence of base URLs or a dict of them per dataset. ``{dataset}`` in a
    URL is replaced by the dataset's name. Each base URL ends with "/".
    """
    if mirrors is None:
        mirrors = MIRRORS[dataset]
    elif isinstance(mirrors, Mapping):
        mirrors = mirrors[dataset]
    elif isinstance(mirrors, str):
        mirrors = mirrors.replace(",", " ").split()
    bases = []
    for base in mirrors:
        base = base.replace("{dataset}", dataset)
        bases.append(base if base.endswith("/") else base + "/")
    return tuple(bases)


def sha256_of_decompressed(data: bytes, max_bytes: int = MAX_IDX_BYTES) -> str:
    """SHA-256 (hex) of ``data`` after gunzip when it is gzip, else of ``data`` itself; refuses
    (DatasetError) to inflate beyond its IDX header or ``max_bytes``."""
    return hashlib.sha256(decompress(data, max_bytes=max_bytes)).hexdigest()


def expected_bytes(file_name: str, checksums: Mapping | None = None) -> int:
    """The most ``file_name`` may decompress to: its official size with the official checksums,
    else MAX_IDX_BYTES (a custom table may describe other files)."""
    if checksums is None or checksums is SHA256:
        return OFFICIAL_BYTES.get(file_name, MAX_IDX_BYTES)
    return MAX_IDX_BYTES


def cached_file(folder: str | os.PathLike, file_name: str) -> Path | None:
    """The path of ``file_name`` (.gz or raw) in ``folder``, or None when it is not there."""
    for candidate in (Path(folder) / f"{file_name}.gz", Path(folder) / file_name):
        if candidate.is_file():
            return candidate
    return None


def fetch(url: str, *, timeout: float = CONNECT_TIMEOUT, progress: Progress | None = None,
          message: str = "", max_bytes: int = MAX_IDX_BYTES + GZIP_SLACK) -> bytes:
    """The whole body at ``url``; raises OSError / urllib errors, or DownloadError on a short body
    or one longer than ``max_bytes`` (refused from Content-Length before reading, else as soon
    as it is passed: a server cannot fill the memory)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isascii() and length.isdigit() else None
        if total is not None and total > max_bytes:
            raise DownloadError(f"the server offers {total:,} bytes; the file is at most "
                                f"{max_bytes:,}")
        chunks, done = [], 0
        if progress:
            progress(0, total, message)
        while True:
            chunk = response.read(CHUNK_BYTES)
            if not chunk:
                break
            chunks.append(chunk)
            done += len(chunk)
            if done > max_bytes:
                raise DownloadError(f"the server sent more than {max_bytes:,} bytes; the file is "
                                    f"not that large")
            if progress:
                progress(done, total, "")  # only byte counts: a printer prints nothing new
    if total is not None and done != total:
        raise DownloadError(f"the connection was cut after {done:,} of {total:,} bytes")
    return b"".join(chunks)


def _unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the mirror could not be reached at all (no network, no DNS)."""
    if isinstance(error, urllib.error.HTTPError):
        return False
    return isinstance(error, (urllib.error.URLError, TimeoutError, ConnectionError, OSError))


# When no mirror could be reached, the process does not try again for a while: a server would
# otherwise try (and wait for) every mirror again for each dataset and each page that loads one.
NO_RETRY_SECONDS = 600
_no_network = {"since": None}


def recently_unreachable() -> float | None:
    """Seconds since the mirrors were found unreachable in this process, if within
    NO_RETRY_SECONDS; else None."""
    since = _no_network["since"]
    if since is None or time.monotonic() - since > NO_RETRY_SECONDS:
        return None
    return time.monotonic() - since


def _reason(error: BaseException) -> str:
    """A short, readable account of why one mirror failed."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return f"cannot connect ({error.reason})"
    if isinstance(error, http.client.IncompleteRead):
        return f"the connection was cut after {len(error.partial):,} bytes"
    if isinstance(error, TimeoutError):
        return "timed out (no network?)"
    return str(error) or type(error).__name__


def download_file(dataset: str, file_name: str, folder: str | os.PathLike, *,
                  mirrors: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
                  checksums: Mapping[str, Mapping[str, str]] | None = None,
                  progress: Progress | None = None, timeout: float = CONNECT_TIMEOUT) -> Path:
    """Fetch one file (e.g. "train-images-idx3-ubyte") from the first mirror that serves it intact.

    The verified bytes are stored as served (``<file_name>.gz`` when gzip, else ``<file_name>``) in
    ``folder``, atomically. Returns the path. Raises DownloadError listing every mirror's failure;
    OSError when ``folder`` cannot be written (read-only, disk full).
    """
    expected = (checksums or SHA256)[dataset][file_name]
    size = expected_bytes(file_name, checksums)
    folder = Path(folder)
    failures, unreachable = [], []
    for base in mirrors_for(dataset, mirrors):
        url = f"{base}{file_name}.gz"
        try:
            data = fetch(url, timeout=timeout, progress=progress,
                         message=f"Downloading {url}", max_bytes=size + GZIP_SLACK)
            found = sha256_of_decompressed(data, max_bytes=size)    # capped before the checksum
            if found != expected:
                raise DownloadError(f"checksum mismatch (SHA-256 {found[:12]}..., "
                                    f"expected {expected[:12]}...)")
            parse_idx(data, source=url)  # a checksum collision is unlikely; a wrong table is not
        except Exception as error:  # any failure at all (network, HTTP, IncompleteRead, bad
            failures.append(f"  {url}: {_reason(error)}")  # gzip, checksum): try the next mirror
            unreachable.append(_unreachable(error))
            continue
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (f"{file_name}.gz" if is_gzip(data) else file_name)
        write_bytes_atomic(target, data)
        stale = folder / (file_name if is_gzip(data) else f"{file_name}.gz")
        if stale.exists():  # an older copy in the other form would shadow or confuse
            stale.unlink()
        if progress:
            progress(len(data), len(data), f"Saved {target}")
        return target
    no_network = bool(unreachable) and all(unreachable)
    if no_network:
        _no_network["since"] = time.monotonic()
    raise DownloadError(f"Could not download {file_name} of {dataset} from any mirror:\n"
                        + "\n".join(failures)
                        + "\nCheck the network connection, or download the files yourself and "
                          "pass their folder with --data-dir / NN_DATA_DIR.",
                        unreachable=no_network)


def _check_writable(folder: Path) -> None:
    """Raise OSError now when ``folder`` cannot be created or written (read-only, full, a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass


def download_dataset(dataset: str, folder: str | os.PathLike, *,
                     mirrors: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
                     checksums: Mapping[str, Mapping[str, str]] | None = None,
                     progress: Progress | None = None, timeout: float = CONNECT_TIMEOUT
                     ) -> dict[str, Path]:
    """Make sure ``folder`` holds the four verified files of ``dataset``; download what is missing.

    A file already in ``folder`` whose checksum matches is kept; a missing or damaged one is
    downloaded again. Returns {file_name: path}. Raises DownloadError or OSError when ``folder``
    cannot be written.
    """
    if dataset not in MIRRORS:
        raise DownloadError(f"Unknown dataset {dataset!r}; known: {', '.join(MIRRORS)}.")
    ago = recently_unreachable()
    if ago is not None:
        raise DownloadError(f"The mirrors could not be reached {ago:.0f} s ago; not trying again "
                            f"within {NO_RETRY_SECONDS // 60} minutes.", unreachable=True)
    table = checksums or SHA256
    _check_writable(Path(folder))  # before any download, not after it
    paths = {}
    for file_name in FILE_NAMES:
        present = cached_file(folder, file_name)
        if present is not None:
            size = expected_bytes(file_name, checksums)
            try:
                data = read_file_bytes(present, size + GZIP_SLACK)
                if sha256_of_decompressed(data, max_bytes=size) == table[dataset][file_name]:
                    paths[file_name] = present
                    continue
            except (OSError, DatasetError):
                pass  # damaged: download it again
        paths[file_name] = download_file(dataset, file_name, folder, mirrors=mirrors,
                                         checksums=table, progress=progress, timeout=timeout)
    return paths
