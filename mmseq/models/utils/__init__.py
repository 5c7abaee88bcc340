from .ckpt_convert import convert_sequencer_state_dict, infer_sequencer_arch

__all__ = ['convert_sequencer_state_dict', 'infer_sequencer_arch']
