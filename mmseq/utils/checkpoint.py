"""Loading checkpoints without executing code from them.

torch >= 2.6 loads with ``weights_only=True``: the unpickler only rebuilds tensors, containers
and globals that were explicitly allowed. mmengine 0.10.7 saves a few more objects in every
checkpoint (found by saving one with a ``Runner`` and listing the globals its pickle names):

- ``mmengine.logging.history_buffer.HistoryBuffer`` (the message hub's logged scalars), whose
  ``statistics_methods`` dict pickles its functions as ``getattr(HistoryBuffer, 'mean')`` etc.;
- numpy arrays and scalars (``numpy.ndarray``, ``numpy.dtype`` and the numeric dtypes'
  classes, ``multiarray._reconstruct``, ``multiarray.scalar``), e.g. the ETA and best scores
  in the runtime info.

:func:`register_mmengine_safe_globals` allows exactly these, so mmengine's ``load_from``,
``resume`` and ``tools/test.py`` work with the safe default. ``getattr`` is not allowed in
general (``getattr(f, '__globals__')`` leads to ``os.system``): the name ``builtins.getattr`` is
bound to a function that only returns HistoryBuffer's registered statistics methods.

:func:`register_timm_scheme` teaches mmengine's ``CheckpointLoader`` the names
``timm://sequencer2d_{s,m,l}.in1k`` (the public weights on the Hugging Face hub, converted on
the fly by :mod:`mmseq.utils.timm_weights`), and :func:`load_checkpoint_weights_only` takes them
too.

``http://`` and ``https://`` URLs, which every OpenMMLab tool accepts as checkpoints, are
downloaded once into torch hub's cache (:func:`download_checkpoint`, the folder mmengine's
loader uses) and then read like a local file, weights only.
"""
import os
import os.path as osp
import pickle
import sys
import urllib.error
from typing import Any, Union
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from .timm_weights import TIMM_SCHEME, load_timm_sequencer

_registered = False
_scheme_registered = False
# HistoryBuffer's built-in statistics, stored as functions in every instance's
# ``statistics_methods`` and pickled as getattr(HistoryBuffer, name).
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stands in for ``builtins.getattr`` inside ``weights_only`` unpickling."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint: only '
        f'HistoryBuffer.{{{",".join(_HISTORY_BUFFER_METHODS)}}} are')


def _numpy_globals() -> list:
    """numpy's pickle entry points under their numpy 2 and numpy 1 module paths."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    entries = [np.ndarray, np.dtype]
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        entries.append((multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((multiarray.scalar, f'{module}.scalar'))
    # Unpickling a dtype ends in BUILD on the instance, which torch checks by its class
    # (numpy >= 1.25: numpy.dtypes.Float64DType, ...): the numeric dtypes only.
    entries += [type(np.dtype(name)) for name in (
        'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
        'float16', 'float32', 'float64')]
    return entries


def register_mmengine_safe_globals() -> None:
    """Allow the non-tensor objects of mmengine checkpoints in ``weights_only`` loading.

    Idempotent; called when :mod:`mmseq.utils` is imported (``tools/train.py``,
    ``tools/test.py`` and every mmseq entry point import it).
    """
    global _registered
    if _registered:
        return
    torch.serialization.add_safe_globals(
        [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')] + _numpy_globals())
    _registered = True


URL_SCHEMES = ('http://', 'https://')


def is_url(path: Any) -> bool:
    """Whether ``path`` is an ``http(s)://`` URL."""
    return isinstance(path, str) and path.startswith(URL_SCHEMES)


def download_checkpoint(url: str, model_dir: Union[str, None] = None) -> str:
    """The local copy of the checkpoint at ``url``: ``<model_dir>/<file name>``, by default
    ``<torch.hub.get_dir()>/checkpoints`` (``$TORCH_HOME/hub/checkpoints``, where mmengine's
    http loader keeps downloads too), downloaded when it is not there yet.

    Raises:
        ValueError: ``url`` is not an http(s) URL of a file.
        OSError: the download failed (the message names the URL and the server's answer).
    """
    if not is_url(url):
        raise ValueError(f'not an http(s) URL: {url}')
    filename = osp.basename(urlparse(url).path)
    if not filename:
        raise ValueError(f'the URL names no file: {url}')
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    cached = osp.join(model_dir, filename)
    if osp.isfile(cached):
        return cached
    os.makedirs(model_dir, exist_ok=True)
    sys.stderr.write(f'Downloading: "{url}" to {cached}\n')
    try:
        # written to a temporary file and moved into place: never a partial file under `cached`
        torch.hub.download_url_to_file(url, cached, progress=sys.stderr.isatty())
    except (urllib.error.URLError, OSError) as err:
        raise OSError(f'cannot download checkpoint {url}: {err}') from err
    return cached


def load_checkpoint_weights_only(path: Union[str, 'osp.PathLike'],
                                 map_location: Any = 'cpu') -> Any:
    """Load a checkpoint file without running code from it.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(weights_only=True)`` and mmengine's allow-list; ``timm://<name>`` is resolved
    and converted by :func:`mmseq.utils.timm_weights.load_timm_sequencer`; an ``http(s)://``
    URL is read from torch hub's cache (:func:`download_checkpoint`).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        OSError: the download of a URL failed.
        ValueError: an unknown ``timm://`` name, or its file holds no Sequencer2D weights.
        RuntimeError: the pickle names a global outside the allow-list (the message names the
            file and the global).
    """
    path = str(path)
    if path.startswith(TIMM_SCHEME):
        return load_timm_sequencer(path, map_location)
    if is_url(path):
        path = download_checkpoint(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        device = map_location if isinstance(map_location, str) else 'cpu'
        return load_file(path, device=device)
    register_mmengine_safe_globals()
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        detail = str(err).split('\n')
        detail = next((line for line in detail if 'unsupported' in line.lower()
                       or 'not allowed' in line or 'unrecognized' in line), detail[0]).strip()
        raise RuntimeError(
            f'refusing to load checkpoint {path}: it contains Python objects that are not '
            f'tensors or allow-listed mmengine/numpy objects, and unpickling them could run '
            f'code. ({detail}) Load it with torch.load(weights_only=False) only if you trust '
            f'where the file came from.') from err


def load_from_timm(filename: str, map_location: Any = None) -> dict:
    """mmengine's loader for ``timm://<name>`` (its log line reads "Loads checkpoint by timm
    backend"): the mmpretrain-layout checkpoint of :func:`load_timm_sequencer`."""
    return load_timm_sequencer(filename, 'cpu' if map_location is None else map_location)


def register_timm_scheme() -> None:
    """Register ``timm://`` with mmengine's ``CheckpointLoader``, which ``init_cfg`` Pretrained,
    ``load_from``, ``resume`` and the libraries' tools read checkpoints through.

    Idempotent; called when :mod:`mmseq` (any part of it) is imported.
    """
    global _scheme_registered
    if _scheme_registered:
        return
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes=TIMM_SCHEME, loader=load_from_timm, force=True)
    _scheme_registered = True
