"""What the analysis tools (``tools/analysis/{erf,resolution,hidden_states}.py``) share:
the analysed model and its inputs, effective receptive fields (paper App. D) and the BiLSTM2D
hidden states (paper Fig. 4).

Plotting lives in the tools; everything here returns tensors, arrays or plain dicts.
"""
from .erf import (centre_cross_mask, erf_contributions, erf_layers, erf_score, erf_summary,
                  rescale_scores)
from .hidden_states import as_reference_mixer, mixer_hidden_states, sequencer_block
from .models import backbone_type, build_model, is_sequencer
from .pipelines import (default_resolutions, list_images, load_inputs, pipeline_at_resolution,
                        train_resolution)

__all__ = [
    'build_model', 'backbone_type', 'is_sequencer', 'default_resolutions', 'train_resolution',
    'pipeline_at_resolution', 'list_images', 'load_inputs', 'erf_layers', 'erf_contributions',
    'erf_score', 'erf_summary', 'rescale_scores', 'centre_cross_mask', 'as_reference_mixer',
    'sequencer_block', 'mixer_hidden_states'
]
