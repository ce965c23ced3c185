"""fetch(): get one data file into the cache, from the first mirror that delivers it intact.

A file is used from the cache when it is there and verifies. Otherwise each mirror URL is
tried in turn (http, https or file://): the body streams into a temporary file beside the
destination, is checked (length, then sha256 and / or a verify callable), and only then is
renamed into place with os.replace, so a cut-off or wrong download never leaves a file
behind. LSTMKIT_OFFLINE=1 forbids the network; LSTMKIT_DATA_DIR moves the cache.
"""

import hashlib
import http.client
import os
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import platformdirs
from tqdm import tqdm

TIMEOUT_S = 5.0  # connect timeout and longest silence while reading, per mirror
CHUNK_BYTES = 1 << 16


class DataUnavailable(RuntimeError):  # noqa: N818 (the name callers catch)
    """A data file is not in the cache and could not be downloaded."""


def cache_dir() -> Path:
    """The cache folder: $LSTMKIT_DATA_DIR, else the platform's user cache dir for lstmkit."""
    return Path(os.environ.get("LSTMKIT_DATA_DIR") or platformdirs.user_cache_dir("lstmkit"))


def is_offline() -> bool:
    """True when LSTMKIT_OFFLINE is set to anything but "" or "0"."""
    return os.environ.get("LSTMKIT_OFFLINE", "") not in ("", "0")


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    filename: str,
    urls: Sequence[str],
    sha256: str | None = None,
    verify: Callable[[Path], object] | None = None,
    dest_dir: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Return the path of a verified copy of filename in dest_dir (default cache_dir()).

    urls are mirrors, tried in order. sha256 is the expected hex digest of the file's bytes;
    verify(path) may check anything else and raises ValueError when the file is wrong.
    Raises DataUnavailable when offline without a valid cached copy, or when every mirror
    failed (the message names each URL and why).
    """
    dest_dir = Path(dest_dir) if dest_dir is not None else cache_dir()
    dest = dest_dir / filename
    if dest.exists():
        try:
            _check(dest, sha256, verify)
            return dest
        except ValueError:
            pass  # a stale or damaged copy: download it again
    if is_offline():
        raise DataUnavailable(
            f"no valid {filename} in {dest_dir} and LSTMKIT_OFFLINE=1 forbids downloading; "
            f"unset LSTMKIT_OFFLINE to download it, or copy the file into that folder"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        try:
            _download(url, dest, sha256, verify, progress)
            return dest
        except (OSError, ValueError, http.client.HTTPException) as err:
            failures.append(f"{url} ({err})")
    tried = "; ".join(failures) or "no download URL given"
    raise DataUnavailable(
        f"could not download {filename}: {tried}; check the network or copy the file into "
        f"{dest_dir}"
    )


def _check(path: Path, sha256: str | None, verify: Callable[[Path], object] | None) -> None:
    """Raise ValueError unless path has the expected sha256 and passes verify."""
    if sha256 is not None and (actual := file_sha256(path)) != sha256:
        raise ValueError(f"sha256 is {actual}, expected {sha256}")
    if verify is not None:
        verify(path)


def _download(url, dest: Path, sha256, verify, progress: bool) -> None:
    """Stream url into a temporary file beside dest, check it, then rename it to dest."""
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as body:
            length = body.headers.get("Content-Length")
            total = int(length) if length is not None else None
            off = None if progress else True  # None: tqdm turns itself off when not a terminal
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=off) as bar:
                while chunk := body.read(CHUNK_BYTES):
                    out.write(chunk)
                    bar.update(len(chunk))
            received = out.tell()
        if total is not None and received != total:
            raise ValueError(f"connection closed after {received} of {total} bytes")
        _check(tmp, sha256, verify)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)  # already gone after os.replace
