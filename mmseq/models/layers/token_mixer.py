"""``mixer_impl`` of the backbones: which BiLSTM2D implementation a block gets. Both are
registered in mmseq's ``MODELS`` and share constructor, parameters and state-dict keys."""
import torch.nn as nn

from mmseq.registry import MODELS

# mixer_impl -> registered class
MIXER_IMPLS = {'reference': 'BiLSTM2D', 'fused': 'FusedBiLSTM2D'}


def select_impl(rnn_type: str) -> str:
    """Implementation used for ``mixer_impl='auto'``.

    LSTMs get 'fused': on CPU its C++ step loops make inference and training faster and the
    training step keeps far fewer activations than nn.LSTM (docs/benchmark.md); wherever they
    do not apply (CUDA, autocast, tracing, no compiled loops) it runs nn.LSTM on the same
    parameters. GRU and tanh-RNN mixers are only implemented by the reference.
    """
    return 'fused' if rnn_type == 'lstm' else 'reference'


def build_token_mixer(impl: str, dim: int, hidden_size: int, **kwargs) -> nn.Module:
    """Build the BiLSTM2D implementation named ``impl`` ('auto', 'reference' or 'fused')."""
    if impl == 'auto':
        impl = select_impl(kwargs.get('rnn_type', 'lstm'))
    if impl not in MIXER_IMPLS:
        raise ValueError(f'mixer_impl must be one of {["auto", *MIXER_IMPLS]}, got {impl!r}')
    # get(), not build(): build() would look the name up in the caller's default scope
    return MODELS.get(MIXER_IMPLS[impl])(dim, hidden_size, **kwargs)
