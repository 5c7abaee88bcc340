"""BiLSTM2D hidden states (paper Fig. 4): the vertical, horizontal and channel-fusion outputs
of one Sequencer block's token mixer."""
from typing import Dict, List, Tuple

import torch
import torch.nn as nn

from mmseq.models.layers.bilstm2d import RNN_TYPES, BiLSTM2D


def as_reference_mixer(mixer: nn.Module) -> nn.Module:
    """The same BiLSTM2D on the reference (nn.LSTM) implementation, whose sub-modules
    ``rnn_v``/``rnn_h``/``fc`` really run and can be hooked; same state dict."""
    if type(mixer) is BiLSTM2D:
        return mixer
    if not isinstance(mixer, BiLSTM2D):
        raise TypeError(f'expected a BiLSTM2D token mixer, got {type(mixer).__name__}')
    rnn = mixer.rnn_v if mixer.rnn_v is not None else mixer.rnn_h
    rnn_type = next(k for k, cls in RNN_TYPES.items() if type(rnn) is cls)
    ref = BiLSTM2D(mixer.dim, mixer.hidden_size, rnn_type=rnn_type,
                   bidirectional=rnn.bidirectional, union=mixer.union,
                   with_fc=mixer.fc is not None)
    ref.load_state_dict(mixer.state_dict(), strict=True)
    p = next(mixer.parameters())
    return ref.to(device=p.device, dtype=p.dtype).train(mixer.training)


def sequencer_block(model: nn.Module, stage: int, block: int) -> Tuple[str, nn.Module]:
    backbone = getattr(model, 'backbone', model)
    stages = getattr(backbone, 'stages', None)
    if stages is None or not hasattr(stages[0], 'blocks'):
        raise TypeError(f'{type(backbone).__name__} is not a Sequencer backbone '
                        '(no stages[i].blocks)')
    if not -len(stages) <= stage < len(stages):
        raise IndexError(f'stage {stage} out of range for {len(stages)} stages')
    stage = stage % len(stages)
    blocks = stages[stage].blocks
    if not -len(blocks) <= block < len(blocks):
        raise IndexError(f'block {block} out of range: stage {stage} has {len(blocks)} blocks')
    block = block % len(blocks)
    prefix = 'backbone.' if hasattr(model, 'backbone') else ''
    return f'{prefix}stages.{stage}.blocks.{block}', blocks[block]


def mixer_hidden_states(model: nn.Module, inputs: torch.Tensor, stage: int = 0,
                        block: int = -1) -> Tuple[str, Dict[str, torch.Tensor]]:
    """Run ``inputs`` through the backbone and return the chosen block's vertical RNN,
    horizontal RNN and channel-fusion outputs as (B, H, W, channels) tensors (keys 'vertical',
    'horizontal', 'fusion'; absent parts of ablated mixers are left out)."""
    name, blk = sequencer_block(model, stage, block)
    original = blk.token_mixer
    mixer = as_reference_mixer(original)
    states: Dict[str, torch.Tensor] = {}
    shape: List[int] = []

    def pre_hook(module, args):
        shape[:] = args[0].shape[:3]

    def rnn_hook(key):
        def hook(module, args, output):
            B, H, W = shape
            seq = output[0]
            if key == 'vertical':  # columns were the sequences: (B*W, H, 2D)
                states[key] = seq.reshape(B, W, H, -1).transpose(1, 2)
            else:  # rows were the sequences: (B*H, W, 2D)
                states[key] = seq.reshape(B, H, W, -1)
        return hook

    def fc_hook(module, args, output):
        states['fusion'] = output

    handles = [mixer.register_forward_pre_hook(pre_hook)]
    if mixer.rnn_v is not None:
        handles.append(mixer.rnn_v.register_forward_hook(rnn_hook('vertical')))
    if mixer.rnn_h is not None:
        handles.append(mixer.rnn_h.register_forward_hook(rnn_hook('horizontal')))
    if mixer.fc is not None:
        handles.append(mixer.fc.register_forward_hook(fc_hook))
    blk.token_mixer = mixer
    try:
        with torch.no_grad():
            getattr(model, 'backbone', model)(inputs)
    finally:
        blk.token_mixer = original
        for h in handles:
            h.remove()
    return name, {k: v.detach() for k, v in states.items()}
