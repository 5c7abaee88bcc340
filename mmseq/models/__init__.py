from .backbones import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
# Last: registers mmseq's model names in mmpretrain's ModelHub, if mmpretrain is installed.
from . import model_index  # noqa: F401
