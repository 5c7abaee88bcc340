# Table 10 / App. C.3, Sequencer2D-Lx1.3: "4/3 times the dimension of each layer of
# Sequencer2D-L", trained under the same conditions as Sequencer2D-L (83.0 top-1, 96M, 29.4G).
# Depth and MLP ratio are L's; channels C and LSTM hidden sizes D (= C / 4) are x 4/3.
_base_ = '../seq2d_l_in1k.py'
model = dict(
    backbone=dict(arch=dict(
        _delete_=True,  # the base arch is the string 'l'
        layers=[8, 8, 16, 4],
        patch_sizes=[7, 2, 1, 1],
        embed_dims=[256, 512, 512, 512],
        hidden_sizes=[64, 128, 128, 128],
        mlp_ratios=[3.0, 3.0, 3.0, 3.0])),
    head=dict(in_channels=512))
