"""mmseq: Sequencer2D (BiLSTM2D token mixing) backbones for the OpenMMLab stack."""
from .version import __version__

__all__ = ['__version__']
