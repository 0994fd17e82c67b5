"""Writing a file so that no reader, and no killed process, ever leaves half of it behind."""

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path


def atomic_write(path, write):
    """Calls `write(tmp)` with a temporary path beside `path`, then renames it over `path`.

    The temporary name keeps the suffix (image and .mat writers choose the format from it) and is
    unique to the process; it is removed if `write` fails. The file gets the process's usual
    permissions (unlike a mkstemp file, which is private to its owner).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def replacing_folder(out):
    """Yields an empty folder beside `out` to fill; once the block ends without an error, that
    folder replaces `out` whole (a rename on the same file system), else it is removed and `out`
    stays as it was. Made with mkdir, not mkdtemp, so that it gets the usual permissions."""
    out = Path(out)
    staging = out.parent / f".{out.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def atomic_write_text(path, text):
    atomic_write(path, lambda tmp: tmp.write_text(text, newline=""))


def numbered(folder, stem, suffix=".npz") -> list[Path]:
    """The files STEM-<n>SUFFIX in `folder`, in the order of n (checkpoint steps, weight parts)."""
    pattern = re.compile(rf"{re.escape(stem)}-(\d+){re.escape(suffix)}")
    found = [(int(m.group(1)), p) for p in Path(folder).glob(f"{stem}-*{suffix}")
             if (m := pattern.fullmatch(p.name))]
    return [p for _, p in sorted(found)]
