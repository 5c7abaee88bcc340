# Sequencer2D-L fine-tuned at 392 px from the 224 px IN-1K model (paper Table 6, "L up-arrow"):
# AdamW lr 5e-5 at batch 512, wd 1e-8, 30 epochs, cosine to 1e-6, no warm-up or cool-down,
# test crop ratio 1.0, drop path 0.4. 392 = 28 x 14, so no padding is needed.
_base_ = './seq2d_l_in1k.py'

# The 224 px model to start from: the public weights by name (Hugging Face hub repo
# timm/sequencer2d_l.in1k, cached; see docs/tools.md), or a classifier checkpoint file.
load_from = 'timm://sequencer2d_l.in1k'


def at_392(pipeline):
    """The 224 pipeline with only its sizes changed: 392 crops, and the test resize straight
    to the crop (ratio 1.0). Lists are replaced whole, hence the copy."""
    sizes = dict(RandomResizedCrop=dict(scale=392), ResizeEdge=dict(scale=392),
                 CenterCrop=dict(crop_size=392))
    return [dict(t, **sizes.get(t.type, {})) for t in pipeline]


train_pipeline = at_392(_base_.train_pipeline)
test_pipeline = at_392(_base_.test_pipeline)
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

lr = 5e-5
optim_wrapper = dict(optimizer=dict(lr=lr, weight_decay=1e-8))
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=0, end=30,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=30, val_interval=1)
auto_scale_lr = dict(base_batch_size=512)
