"""mmseq's models by name in mmpretrain's ``ModelHub``.

Importing :mod:`mmseq.models` (``import mmseq.models``, or a config's
``custom_imports=['mmseq.models']``) registers the models of the package's model index, so
mmpretrain's own APIs know them by name::

    import mmseq.models  # noqa: F401
    from mmpretrain import ImageClassificationInferencer, get_model, list_models

    list_models('*sequencer*')  # sequencer2d-{s,m,l}_3rdparty_in1k
    model = get_model('sequencer2d-s_3rdparty_in1k', pretrained=True)
    ImageClassificationInferencer('sequencer2d-s_3rdparty_in1k')('image.jpg')

The index, the configs it names and the tools ship inside the package, under ``mmseq/.mim/``,
as in every OpenMMLab package: copies in a wheel or a ``pip install .``, links into the
checkout in an editable install (setup.py). ``mim train mmseq CONFIG`` finds the tools there.

Without mmpretrain nothing is registered: the backbones need only torch, mmengine and mmcv.
"""
import importlib.util
import os.path as osp
import warnings

# <package>/.mim: where mim and mmpretrain look for an OpenMMLab package's files
MIM_ROOT = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim')
MODEL_INDEX = osp.join(MIM_ROOT, 'model-index.yml')

_registered = set()  # absolute paths of the indexes registered


def register_model_index(path: str = MODEL_INDEX) -> None:
    """Add the models of the model index ``path`` to mmpretrain's ``ModelHub`` (once per
    index); their configs are relative to the index's folder. A name that ``ModelHub``
    already has from another index is an error (``ValueError``)."""
    from mmpretrain.apis import ModelHub
    path = osp.abspath(path)
    if path in _registered:
        return
    if not osp.isfile(path):
        raise FileNotFoundError(f'model index not found: {path}')
    ModelHub.register_model_index(path, config_prefix=osp.dirname(path))
    _registered.add(path)


def _register_on_import() -> None:
    if importlib.util.find_spec('mmpretrain') is None:
        return
    if not osp.isfile(MODEL_INDEX):
        warnings.warn(f'{MODEL_INDEX} is missing, so mmseq\'s models are not in mmpretrain\'s '
                      'ModelHub: reinstall mmseq (`pip install -e .`, or `make setup`), which '
                      'links the configs and the model index into the package')
        return
    try:
        register_model_index()
    except Exception as err:  # never break the models' import over the names
        warnings.warn(f'mmseq\'s models could not be added to mmpretrain\'s ModelHub: {err!r}')


_register_on_import()
