# The tests' one tiny Sequencer2D: 4 stages with the real strides (7, 14, 14, 14), small enough
# for seconds of CPU, randomly initialised. Python tests read it as helpers.TINY_ARCH; the tiny
# configs beside this file inherit this file and use
# `model = dict(backbone={{_base_.tiny_backbone}})`.
tiny_arch = dict(layers=[1, 1, 1, 1], patch_sizes=[7, 2, 1, 1], embed_dims=[16, 32, 32, 32],
                 hidden_sizes=[4, 8, 8, 8], mlp_ratios=[2, 2, 2, 2])
tiny_backbone = dict(arch=dict(_delete_=True, **tiny_arch), init_cfg=None)
