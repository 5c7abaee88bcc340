"""The public-weights key conversion lives in :mod:`mmseq.utils.timm_weights` (the bottom
layer, so that ``timm://`` checkpoints resolve without the models); these names stay importable
from here."""
from mmseq.utils.timm_weights import convert_sequencer_state_dict, infer_sequencer_arch

__all__ = ['convert_sequencer_state_dict', 'infer_sequencer_arch']
