"""Crash-safe file writing: a reader sees the old file or the whole new one, never a part.

Data goes to a hidden temporary file in the target's directory, is fsynced and then renamed
over the target with ``os.replace`` (atomic on POSIX and Windows); the directory is fsynced so
that the rename itself survives a power loss.
"""
import io
import os
import os.path as osp
import shutil
from typing import Any

import torch

TMP_SUFFIX = '.tmp'


def tmp_path_for(path: str) -> str:
    """The temporary name :func:`commit_file` expects for ``path``."""
    # Hidden and with a foreign suffix: globs for '*.pth' and resume never see it.
    head, tail = osp.split(path)
    return osp.join(head, f'.{tail}.{os.getpid()}{TMP_SUFFIX}')


def _fsync_dir(directory: str) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit_file(tmp: str, path: str) -> None:
    """fsync ``tmp`` and atomically move it to ``path`` (same directory)."""
    if osp.isdir(tmp):
        # Sharded checkpoints (e.g. DeepSpeed) are folders: the rename is still atomic.
        if osp.isdir(path):
            shutil.rmtree(path)
    else:
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(osp.dirname(osp.abspath(path)))


def atomic_write_bytes(data: bytes, path: str) -> None:
    """Write ``data`` to ``path``; on any error the temporary file is removed and the old
    ``path`` (if any) is left as it was."""
    path = str(path)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = tmp_path_for(path)
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
        commit_file(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` that never leaves a partial file at ``path``."""
    with io.BytesIO() as buf:
        torch.save(obj, buf)
        atomic_write_bytes(buf.getvalue(), path)
