from .bilstm2d import BiLSTM2D, build_token_mixer
from .drop_path import DropPath
from .fused_bilstm2d import FusedBiLSTM2D, gate_workspace
from .mlp import Mlp

__all__ = ['BiLSTM2D', 'DropPath', 'FusedBiLSTM2D', 'Mlp', 'build_token_mixer',
           'gate_workspace']
