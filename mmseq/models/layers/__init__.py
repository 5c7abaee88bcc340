from .bilstm1d import BiLSTM1D
from .bilstm2d import BiLSTM2D
from .drop_path import DropPath
from .fused_bilstm2d import FusedBiLSTM2D
from .mlp import Mlp
from .token_mixer import build_token_mixer

__all__ = ['BiLSTM1D', 'BiLSTM2D', 'DropPath', 'FusedBiLSTM2D', 'Mlp', 'build_token_mixer']
