#!/usr/bin/env python
"""Convert public Sequencer2D weights (timm ``sequencer2d_*`` .pth/.safetensors, the official
release's ``{'model': ...}`` layout, or ``timm://sequencer2d_{s,m,l}.in1k``, the Hugging Face
hub repo read through its cache) into an mmpretrain checkpoint for ``configs/seq2d_*_in1k.py``.

    python tools/model_converters/sequencer_to_mmseq.py SRC DST

The configs read ``timm://`` names directly; this writes a file for machines that will never
see the hub or its cache.
"""
import argparse
import os.path as osp

from mmseq.utils import (TIMM_SCHEME, atomic_save, convert_sequencer_state_dict,
                         load_checkpoint_weights_only)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='timm or official Sequencer2D weights (.pth / .safetensors) '
                        'or timm://sequencer2d_{s,m,l}.in1k')
    parser.add_argument('dst', help='output mmpretrain checkpoint (.pth)')
    args = parser.parse_args(argv)

    if args.src.startswith(TIMM_SCHEME):
        # resolved (downloaded into the hub cache if needed), checked and converted
        ckpt = load_checkpoint_weights_only(args.src)
        state_dict, arch = ckpt['state_dict'], ckpt['meta']['arch']
        source = args.src
    else:
        if not osp.isfile(args.src):
            parser.error(f'no such file: {args.src}')
        # Never unpickle arbitrary objects from a downloaded file.
        state_dict, arch = convert_sequencer_state_dict(load_checkpoint_weights_only(args.src))
        source = osp.basename(args.src)
    atomic_save({'state_dict': state_dict,
                 'meta': {'converted_from': source, 'arch': arch}}, args.dst)
    num_params = sum(v.numel() for v in state_dict.values())
    print(f'Converted {len(state_dict)} tensors ({num_params / 1e6:.2f}M parameters, '
          f'layers={arch["layers"]}) -> {args.dst}')


if __name__ == '__main__':
    main()
