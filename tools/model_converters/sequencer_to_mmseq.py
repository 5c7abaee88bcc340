#!/usr/bin/env python
"""Convert public Sequencer2D weights (timm ``sequencer2d_*`` .pth/.safetensors, or the official
release's ``{'model': ...}`` layout) into an mmpretrain checkpoint for ``configs/seq2d_*_in1k.py``.

    python tools/model_converters/sequencer_to_mmseq.py SRC DST
"""
import argparse
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmseq.models.utils import convert_sequencer_state_dict  # noqa: E402
from mmseq.utils.checkpoint import load_checkpoint_weights_only  # noqa: E402


def load_source(path: str) -> dict:
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path)
    # Never unpickle arbitrary objects from a downloaded file.
    return load_checkpoint_weights_only(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='timm or official Sequencer2D weights (.pth / .safetensors)')
    parser.add_argument('dst', help='output mmpretrain checkpoint (.pth)')
    args = parser.parse_args(argv)

    if not osp.isfile(args.src):
        parser.error(f'no such file: {args.src}')
    state_dict, arch = convert_sequencer_state_dict(load_source(args.src))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    tmp = args.dst + '.tmp'
    torch.save({'state_dict': state_dict,
                'meta': {'converted_from': osp.basename(args.src), 'arch': arch}}, tmp)
    os.replace(tmp, args.dst)  # never leave a half-written checkpoint behind
    num_params = sum(v.numel() for v in state_dict.values())
    print(f'Converted {len(state_dict)} tensors ({num_params / 1e6:.2f}M parameters, '
          f'layers={arch["layers"]}) -> {args.dst}')


if __name__ == '__main__':
    main()
