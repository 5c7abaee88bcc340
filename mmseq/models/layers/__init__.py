from .bilstm2d import BiLSTM2D, build_token_mixer
from .drop_path import DropPath
from .mlp import Mlp

__all__ = ['BiLSTM2D', 'DropPath', 'Mlp', 'build_token_mixer']
