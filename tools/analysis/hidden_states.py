r"""Hidden states of one Sequencer block for one image (paper Fig. 4): the outputs of the
vertical BiLSTM, the horizontal BiLSTM and the channel fusion (``fc``) of the block's BiLSTM2D.

The states are captured with forward hooks on ``token_mixer.rnn_v`` / ``rnn_h`` / ``fc`` of the
reference (nn.LSTM) mixer; a block running another implementation (e.g. the fused one) is
analysed through a reference copy holding the same weights. The vertical LSTM reads columns as
sequences, so its (B*W, H, 2D) output is reshaped back to the (H, W, 2D) map.

Example (Fig. 4: the last block of the first stage)::

    python tools/analysis/hidden_states.py configs/seq2d_s_in1k.py \
        --checkpoint timm://sequencer2d_s.in1k --image demo/demo.jpg --stage 0 --block -1 \
        --out-dir work_dirs/hidden_states

Writes ``hidden_states.png`` (rows: vertical LSTM, horizontal LSTM, channel fusion; columns:
the input and the channels shown, each min-max scaled) and ``hidden_states.json`` (map sizes,
every channel's spatial std, and the shown channels' maps).
"""
import argparse
import json
import os
import os.path as osp

import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmseq.analysis import build_model, load_inputs, mixer_hidden_states, pipeline_at_resolution
from mmseq.utils import get_test_pipeline, load_config

TITLES = dict(vertical='vertical LSTM', horizontal='horizontal LSTM', fusion='channel fusion')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('--checkpoint', default=None,
                   help='weights: a file, an http(s):// URL or timm://sequencer2d_{s,m,l}.in1k '
                   '(default: random init)')
    p.add_argument('--image', required=True)
    p.add_argument('--stage', type=int, default=0, help='stage index (0-based; -1 = last)')
    p.add_argument('--block', type=int, default=-1, help='block index in the stage (-1 = last)')
    p.add_argument('--resolution', type=int, default=224)
    p.add_argument('--num-channels', type=int, default=8,
                   help='channels shown per state: those with the largest spatial std')
    p.add_argument('--channels', type=int, nargs='+', default=None,
                   help='show these channel indices instead (for every state)')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--device', default='cpu')
    p.add_argument('--cmap', default='viridis')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None)
    args = p.parse_args(argv)
    if args.num_channels < 1:
        p.error('--num-channels must be positive')
    return args


def pick_channels(state: np.ndarray, channels, k: int) -> list:
    """Given channels (checked), or the k with the largest spatial std."""
    width = state.shape[-1]
    if channels is not None:
        bad = [c for c in channels if not 0 <= c < width]
        if bad:
            raise ValueError(f'channels {bad} out of range for a state of {width} channels')
        return list(channels)
    std = state.reshape(-1, width).std(axis=0)
    return [int(c) for c in np.argsort(-std, kind='stable')[:k]]


def display_image(model, path, pipeline) -> np.ndarray:
    """The crop the model sees, as RGB uint8 (the pipeline before normalisation)."""
    init_default_scope(model.cfg.get('default_scope', 'mmpretrain'))
    packed = Compose(pipeline)(dict(img_path=path))['inputs']
    return packed.permute(1, 2, 0).numpy()[..., ::-1].copy()


def plot(image, states, shown, title, out_file, cmap):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    rows, cols = len(states), 1 + max(len(c) for c in shown.values())
    fig, axes = plt.subplots(rows, cols, figsize=(1.15 * cols, 1.25 * rows + 0.3), squeeze=False)
    for r, (key, state) in enumerate(states.items()):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                if r == 0:
                    ax.imshow(image)
                    ax.set_title('input', fontsize=7)
                else:
                    ax.axis('off')
                continue
            if c - 1 >= len(shown[key]):
                ax.axis('off')
                continue
            ch = shown[key][c - 1]
            m = state[..., ch]
            ax.imshow((m - m.min()) / (m.max() - m.min() + 1e-12), cmap=cmap)
            ax.set_title(f'ch {ch}', fontsize=7)
            if c == 1:
                ax.set_ylabel(TITLES[key], fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(out_file, dpi=72)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.image):
        raise FileNotFoundError(f'no such image: {args.image}')
    os.makedirs(args.out_dir, exist_ok=True)
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg, args.checkpoint, args.device)
    pipeline = pipeline_at_resolution(get_test_pipeline(cfg), args.resolution)
    inputs = load_inputs(model, [args.image], pipeline).to(args.device)
    name, states = mixer_hidden_states(model, inputs, args.stage, args.block)
    states = {k: v[0].float().cpu().numpy() for k, v in states.items()}
    shown = {k: pick_channels(s, args.channels, args.num_channels) for k, s in states.items()}

    png = osp.join(args.out_dir, 'hidden_states.png')
    plot(display_image(model, args.image, pipeline), states, shown,
         f'{name}.token_mixer ({args.resolution} px)', png, args.cmap)
    report = dict(
        config=args.config, checkpoint=args.checkpoint, image=args.image, block=name,
        resolution=args.resolution,
        states={k: dict(shape=list(s.shape), channel_std=s.reshape(-1, s.shape[-1]).std(0)
                        .round(5).tolist(), shown_channels=shown[k],
                        shown_maps=[s[..., c].round(4).tolist() for c in shown[k]])
                for k, s in states.items()})
    with open(osp.join(args.out_dir, 'hidden_states.json'), 'w') as f:
        json.dump(report, f)
    for k, s in states.items():
        print(f'{TITLES[k]}: map {s.shape[0]}x{s.shape[1]}, {s.shape[2]} channels, '
              f'shown {shown[k]}')
    print(f'wrote {png} and hidden_states.json in {args.out_dir}')


if __name__ == '__main__':
    if 'OMP_NUM_THREADS' not in os.environ:
        torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    main()
