"""Whole-model ONNX export of the four dense model types (tools/deployment/pytorch2onnx.py),
their inference on onnxruntime (tools/deployment/onnx_infer.py) and the agreement with the
PyTorch model (fused mixers, its own test_step) on a real photograph at two sizes that need
padding, 500x375 and 427x640."""
import contextlib
import io
import sys

import mmcv
import numpy as np
import onnx
import pytest
import torch

from helpers import config_file, load_tool
from mmseq.apis import init_model
from mmseq.deployment import ExportError, build_graph, export
from mmseq.deployment.runtime import OnnxModel

DENSE = {
    'sem_fpn': 'tiny_sem_fpn_ade20k.py',
    'upernet': 'tiny_upernet_ade20k.py',
    'retinanet': 'tiny_retinanet_coco.py',
    'mask_rcnn': 'tiny_mask_rcnn_coco.py',
}
# ONNX operators each graph must hold (the mixers, and the detectors' post-processing)
OPS = {
    'sem_fpn': {'LSTM', 'ArgMax', 'Pad'},
    'upernet': {'LSTM', 'ArgMax', 'Pad', 'MatMul'},
    'retinanet': {'LSTM', 'NonMaxSuppression', 'TopK', 'Pad'},
    'mask_rcnn': {'LSTM', 'NonMaxSuppression', 'TopK', 'RoiAlign', 'Pad'},
}


class roi_align_contiguous:
    """mmcv's RoIAlign kernels read their input's memory as contiguous NCHW, and the
    Sequencer2D pyramid is channels-last memory: the PyTorch reference here gives RoI Align
    contiguous maps, which is what the graph's ONNX RoiAlign reads."""

    def __enter__(self):
        self.module = sys.modules['mmcv.ops.roi_align']
        self.forward = forward = self.module.RoIAlign.forward
        self.module.RoIAlign.forward = lambda s, x, rois: forward(s, x.contiguous(), rois)

    def __exit__(self, *exc):
        self.module.RoIAlign.forward = self.forward


@pytest.fixture(autouse=True)
def contiguous_roi_align():
    with roi_align_contiguous():
        yield


@pytest.fixture(scope='module')
def tools():
    return {name: load_tool(f'tools/deployment/{name}.py')
            for name in ('pytorch2onnx', 'onnx_infer', 'onnx_agreement')}


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    """A real photograph (matplotlib's sample image) at 500x375 and 427x640."""
    from matplotlib import cbook
    photo = mmcv.imread(cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))
    folder = tmp_path_factory.mktemp('photos')
    paths = []
    for w, h in ((500, 375), (427, 640)):
        paths.append(str(folder / f'hopper_{w}x{h}.jpg'))
        mmcv.imwrite(mmcv.imresize(photo, (w, h)), paths[-1])
    return paths


@pytest.fixture(scope='module', params=list(DENSE))
def exported(request, tmp_path_factory, tools):
    """(kind, config, checkpoint, onnx file, export printout) for one dense model type with
    weights moved off their initialisation, exported at 75x100 with --verify."""
    kind = request.param
    tmp = tmp_path_factory.mktemp(kind)
    cfg = config_file(DENSE[kind])
    torch.manual_seed(0)  # random boxes can be degenerate (e.g. clipped to 0.01 px wide)
    model = init_model(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    ckpt = str(tmp / 'model.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = str(tmp / 'model.onnx')
    printed = io.StringIO()
    with roi_align_contiguous(), contextlib.redirect_stdout(printed):
        tools['pytorch2onnx'].main([cfg, ckpt, '--shape', '75', '100', '--out', out,
                                    '--verify'])
    return kind, cfg, ckpt, out, printed.getvalue()


def test_export_holds_the_whole_model(exported):
    kind, _, _, path, printed = exported
    assert 'verdict' in printed and printed.count(' ok') >= 2, printed
    proto = onnx.load(path)
    ops = {node.op_type for node in proto.graph.node}
    assert OPS[kind] <= ops, OPS[kind] - ops
    (image, ) = proto.graph.input
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert image.name == 'image' and dims[1:] == [3, 'height', 'width']
    # segmentors take batches; a detector's graph one image (its detections vary in number)
    assert dims[0] == ('batch' if kind in ('sem_fpn', 'upernet') else 1)
    meta = {p.key for p in proto.metadata_props}
    assert {'mmseq.task', 'mmseq.config', 'mmseq.dataset_meta', 'mmseq.runtime'} <= meta


def test_torch_free_runtime_equals_the_full_stack(exported, photos):
    """tools/deployment/ort_serve.py (numpy post-processing, no OpenMMLab code) gives the
    full-stack runtime's masks, boxes and pasted instance masks, on photographs resized by
    the pipeline."""
    kind, _, _, path, _ = exported
    serve = load_tool('tools/deployment/ort_serve.py').OrtModel(path, threads=1)
    full = OnnxModel(path, threads=1)
    for photo in photos:
        got, ref = serve.predict(photo), full.predict(photo)
        if kind in ('sem_fpn', 'upernet'):
            assert (got['sem_seg'] == ref.pred_sem_seg.data[0].numpy()).mean() >= 0.9999
            continue
        inst = ref.pred_instances
        assert len(got['boxes']) == len(inst) > 0
        np.testing.assert_allclose(got['boxes'], inst.bboxes.numpy(), atol=1e-3, rtol=0)
        np.testing.assert_array_equal(got['labels'], inst.labels.numpy())
        if kind == 'mask_rcnn':
            a, b = got['masks'], inst.masks.numpy()
            assert a.shape == b.shape and (a != b).sum() <= 1e-4 * a.size


def test_infer_and_verify_on_photographs(exported, tools, photos, tmp_path, capsys):
    kind, cfg, ckpt, path, _ = exported
    vis = tmp_path / 'vis'
    tools['onnx_infer'].main([path, *photos, '--out-dir', str(vis), '--score-thr', '0',
                              '--verify', cfg, ckpt])
    printed = capsys.readouterr().out
    for photo in photos:
        name = photo.rsplit('/', 1)[1].rsplit('.', 1)[0]
        drawn = mmcv.imread(str(vis / f'{name}.png'))
        assert drawn.shape == mmcv.imread(photo).shape  # drawn on the original image
    rows = [line for line in printed.splitlines() if 'hopper_' in line and '(' in line]
    assert len(rows) == 2 and all(line.rstrip().endswith('ok') for line in rows), printed
    if kind not in ('sem_fpn', 'upernet'):
        assert all(' 0/' not in line for line in rows)  # boxes were found and matched


def test_batch_axis(exported, photos):
    kind, cfg, ckpt, path, _ = exported
    onnx_model = OnnxModel(path)
    image = onnx_model.load(photos[1])['inputs'].float()[None].numpy()
    batch = np.concatenate([image, image[:, :, ::-1].copy()])  # two different images
    if kind in ('sem_fpn', 'upernet'):
        out = onnx_model.run(batch)
        graph, _ = build_graph(cfg, ckpt)
        with torch.no_grad():
            logits, mask = graph(torch.from_numpy(batch))
        np.testing.assert_allclose(out['logits'], logits.numpy(), atol=1e-4, rtol=0)
        np.testing.assert_array_equal(out['mask'], mask.numpy())
    else:
        with pytest.raises(ValueError, match='one image per run'):
            onnx_model.run(batch)


def test_agreement_script_on_an_image_without_detections(tools, photos, tmp_path, capsys):
    """onnx_agreement.py end to end (export, table, speed), where no candidate passes
    score_thr (1.0): empty outputs on both sides, not a failing graph."""
    cfg = config_file(DENSE['retinanet'])
    ckpt = str(tmp_path / 'retinanet.pth')
    torch.save({'state_dict': init_model(cfg).state_dict()}, ckpt)
    tools['onnx_agreement'].main([cfg, ckpt, photos[0], '--speed', '1',
                                  '--cfg-options', 'model.test_cfg.score_thr=1.0'])
    printed = capsys.readouterr().out
    assert ' 0/0/0 ' in printed and 'CPU: ' in printed and 'PyTorch/onnxrt' in printed


def test_unsupported_settings_say_what(tmp_path, tools, capsys):
    seg = config_file(DENSE['sem_fpn'])
    with pytest.raises(ExportError, match="test_cfg.mode='slide' is not supported"):
        build_graph(seg, cfg_options={'model.test_cfg': dict(mode='slide', crop_size=(56, 56),
                                                             stride=(28, 28))})
    det = config_file(DENSE['retinanet'])
    with pytest.raises(ExportError, match="nms type 'soft_nms' is not supported"):
        build_graph(det, cfg_options={'model.test_cfg.nms.type': 'soft_nms'})
    # an operator the opset lacks: one line naming it, no traced-graph dump
    with pytest.raises(SystemExit, match="ONNX export not supported.*'aten::flip'.*opset"):
        tools['pytorch2onnx'].main([seg, '--shape', '56', '56', '--out',
                                    str(tmp_path / 'm.onnx'), '--opset', '9'])
    assert 'graph(' not in capsys.readouterr().out
    mask_rcnn = config_file(DENSE['mask_rcnn'])
    with pytest.raises(SystemExit, match='RoiAlign'):
        tools['pytorch2onnx'].main([mask_rcnn, '--shape', '56', '56', '--out',
                                    str(tmp_path / 'm.onnx'), '--opset', '13'])
    # backbone files are not images-in, results-out models
    export(seg, str(tmp_path / 'backbone.onnx'), shape=(56, 56), backbone_only=True)
    with pytest.raises(ExportError, match='run them with onnxruntime directly'):
        OnnxModel(str(tmp_path / 'backbone.onnx'))


def test_mask_rcnn_without_detections(photos, tmp_path):
    """No box passes the box head's score_thr (1.0): no RoI for the mask head."""
    path = str(tmp_path / 'model.onnx')
    export(config_file(DENSE['mask_rcnn']), path, shape=(75, 100),
           cfg_options={'model.test_cfg.rcnn.score_thr': 1.0})
    instances = OnnxModel(path).predict(photos[0]).pred_instances
    assert len(instances) == 0 and instances.masks.shape == (0, 375, 500)
