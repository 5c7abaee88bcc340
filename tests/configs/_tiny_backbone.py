# A 4-stage Sequencer2D small enough for seconds of CPU (strides 7, 14, 14, 14 as the real
# ones), randomly initialised. The tiny test configs beside this file use it as
# `model = dict(backbone={{_base_.tiny_backbone}})`.
tiny_backbone = dict(
    arch=dict(_delete_=True, layers=[1, 1, 1, 1], patch_sizes=[7, 2, 1, 1],
              embed_dims=[16, 32, 32, 32], hidden_sizes=[4, 8, 8, 8], mlp_ratios=[2, 2, 2, 2]),
    init_cfg=None)
