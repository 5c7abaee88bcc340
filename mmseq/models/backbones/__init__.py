from .sequencer2d import Sequencer2D
from .vanilla_sequencer import VanillaSequencer

__all__ = ['Sequencer2D', 'VanillaSequencer']
