"""Reading model configs and their test pipelines, for the tools and :mod:`mmseq.apis`."""
import copy
from pathlib import Path
from typing import Optional, Union

from mmengine.config import Config
from mmengine.utils import import_modules_from_strings

ConfigType = Union[str, Path, Config]


def load_config(config: ConfigType, cfg_options: Optional[dict] = None) -> Config:
    """Read a config that defines a model and merge ``cfg_options`` into it.

    A :obj:`Config` is deep-copied, so the caller's object stays untouched, and its
    ``custom_imports`` are imported (``Config.fromfile`` does that for files; an in-memory
    config, or ``cfg_options`` adding imports, would be missed otherwise).

    Raises:
        TypeError: ``config`` is neither a filename nor a :obj:`Config`.
        KeyError: the config has no ``model`` entry.
    """
    if isinstance(config, (str, Path)):
        cfg = Config.fromfile(str(config))
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise TypeError(f'config must be a filename or an mmengine Config, got {type(config)}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    if 'model' not in cfg:
        raise KeyError('the config has no "model" entry')
    return cfg


def get_test_pipeline(cfg: Config) -> list:
    """A copy of the pipeline the config's test loop runs.

    ``test_dataloader.dataset.pipeline`` comes first: ``--cfg-options`` edit it, and a child
    config redefining ``test_pipeline`` alone does not change what is evaluated.
    """
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    pipeline = dataset.get('pipeline') or cfg.get('test_pipeline')
    if not pipeline:
        raise KeyError(
            'the config defines neither test_dataloader.dataset.pipeline nor test_pipeline')
    return copy.deepcopy(list(pipeline))
