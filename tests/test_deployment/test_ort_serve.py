"""The torch-free runtime, tools/deployment/ort_serve.py: its loading, resizing and
post-processing equal the OpenMMLab code they stand for, and in a fresh virtual environment
with only onnxruntime, numpy and Pillow (the wheels `make setup` keeps) it runs an exported
Semantic FPN and RetinaNet on real HeLa images with the results of the full stack."""
import json
import os
import os.path as osp
import subprocess
import sys

import mmcv
import numpy as np
import onnx
import pytest
import torch

from helpers import REPO, load_tool
from mmseq.apis import init_model
from mmseq.deployment import export
from mmseq.deployment.agreement import compare, detection_limits, pytorch_predict
from mmseq.deployment.runtime import OnnxModel

SERVE = 'tools/deployment/ort_serve.py'
WHEELS = os.environ.get('MMSEQ_RUNTIME_WHEELS') or osp.join(
    os.environ.get('XDG_CACHE_HOME') or osp.expanduser('~/.cache'), 'mmseq', 'runtime-wheels')
SEG = 'configs/demo/sem_fpn_seq2d_hela_cpu.py'
# half the frames' size (the test's time): a frame is shrunk 2x, a crop of 500x375 to 467x350
SEG_OPTIONS = {'test_dataloader.dataset.pipeline.1.scale': (550, 350)}
DET = 'configs/demo/retinanet_seq2d_hela_cpu.py'
# packages the serving side must never import
STACK = ('torch', 'torchvision', 'mmengine', 'mmcv', 'mmseg', 'mmdet', 'mmpretrain', 'mmseq',
         'cv2')


@pytest.fixture(scope='module')
def serve():
    return load_tool(SERVE)


# ------------------------------------------------------------ the steps, against OpenMMLab


def test_resize_equals_mmcv(serve):
    """Sizes of mmcv's Resize(keep_ratio=True) and the pixels of its cv2 bilinear resize."""
    rng = np.random.default_rng(0)
    for _ in range(25):
        h, w = (int(v) for v in rng.integers(10, 800, 2))
        scale = tuple(int(v) for v in rng.integers(16, 1400, 2))
        assert serve.rescale_size(w, h, scale) == mmcv.rescale_size((w, h), scale)
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        new_w, new_h = serve.rescale_size(w, h, scale)
        np.testing.assert_array_equal(serve.resize_bilinear(img, new_w, new_h),
                                      mmcv.imresize(img, (new_w, new_h)))
    img = rng.integers(0, 256, (100, 140, 3), dtype=np.uint8)  # the 2x area path of OpenCV
    np.testing.assert_array_equal(serve.resize_bilinear(img, 70, 50), mmcv.imresize(img, (70, 50)))


def test_logits_resize_equals_mmseg(serve):
    from mmseg.models.utils import resize
    logits = torch.randn(3, 37, 53)
    for size, align in (((70, 101), False), ((20, 33), False), ((37, 53), False),
                        ((64, 90), True)):
        ref = resize(logits[None], size=size, mode='bilinear', align_corners=align,
                     warning=False)[0].numpy()
        got = serve.resize_logits(logits.numpy(), *size, align_corners=align)
        np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)


def test_mask_paste_equals_mmdet(serve):
    from mmseq.deployment.postprocess import paste_masks
    torch.manual_seed(0)
    masks = torch.rand(40, 28, 28)
    xy = torch.rand(40, 2) * 95 - 5  # some boxes cross the border
    boxes = torch.cat([xy, xy + torch.rand(40, 2) * 60 + 0.3], 1)
    boxes[0] = torch.tensor([5., 5., 5., 30.])  # zero width
    ref = paste_masks(masks, boxes, 100, 130, 0.5).numpy()
    for i in range(len(masks)):
        got = serve.paste_mask(masks[i].numpy(), boxes[i].numpy(), 100, 130, 0.5)
        assert (got != ref[i]).sum() <= 2, i  # float32 rounding at the threshold only


# ---------------------------------------------------------------- real images, fresh venv


@pytest.fixture(scope='module')
def hela_images(tmp_path_factory):
    """Two held-out HeLa frames as 8-bit PNGs: a whole frame and a crop at a size the
    pipeline resizes; for the detector a 550x350 tile (its training size) and a crop."""
    from mmseq.datasets import hela
    try:
        images, _ = hela.read_sequence()
    except FileNotFoundError as e:
        pytest.skip(f'HeLa images not cached: {e}')
    low, high = np.percentile(images[list(hela.TRAIN_FRAMES)], hela.PERCENTILES)
    frames = hela.to_uint8(images[list(hela.TEST_FRAMES[:2])], low, high)
    folder = tmp_path_factory.mktemp('hela')
    paths = dict(frame=folder / 'frame16.png', crop=folder / 'crop17.png',
                 tile=folder / 'tile16.png', tile_crop=folder / 'crop17b.png')
    mmcv.imwrite(frames[0], str(paths['frame']))
    mmcv.imwrite(frames[1][100:475, 300:800], str(paths['crop']))  # 500x375
    mmcv.imwrite(frames[0][350:, 550:], str(paths['tile']))  # 550x350, as trained
    mmcv.imwrite(frames[1][:640, 600:1027], str(paths['tile_crop']))  # 427x640 -> 350x525
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture(scope='module')
def runtime_venv(tmp_path_factory):
    """A virtual environment with onnxruntime, numpy and Pillow only, from the wheels
    `make setup` keeps (no network)."""
    if not os.path.isdir(WHEELS) or not any(n.startswith('onnxruntime-')
                                            for n in os.listdir(WHEELS)):
        pytest.skip(f'no runtime wheels in {WHEELS}: `make setup` downloads them '
                    '(tools/setup_env.sh, fetch_runtime_wheels)')
    venv = tmp_path_factory.mktemp('serve') / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True,
                   timeout=120)
    python = str(venv / 'bin' / 'python')
    subprocess.run([sys.executable, '-m', 'pip', '--python', python, 'install',
                    '--disable-pip-version-check', '-q', '--no-index', '--find-links', WHEELS,
                    'onnxruntime', 'numpy', 'pillow'], check=True, timeout=300)
    return python


def _model(config, tmp, **cfg_options):
    """The demo config with weights moved off their initialisation, exported at a small
    size; (PyTorch model as users run it, onnx path)."""
    torch.manual_seed(0)
    model = init_model(config, device='cpu', cfg_options=cfg_options or None)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ckpt = str(tmp / 'model.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    path = str(tmp / 'model.onnx')
    export(config, path, ckpt, shape=(98, 126), cfg_options=cfg_options or None)
    return model.eval(), path


def _serve(python, path, images, out_dir, *extra):
    code = ('import runpy, sys; sys.argv = sys.argv[1:]; '
            'runpy.run_path(sys.argv[0], run_name="__main__"); '
            f'leaked = sorted(m for m in sys.modules if m.split(".")[0] in {STACK!r}); '
            'assert not leaked, leaked')
    proc = subprocess.run([python, '-I', '-c', code, osp.join(REPO, SERVE), path, *images,
                           '--out-dir', str(out_dir), '--save-npz', '--threads', '1', *extra],
                          capture_output=True, text=True, timeout=300, cwd=str(out_dir.parent),
                          env={k: v for k, v in os.environ.items() if k != 'PYTHONPATH'})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_serving_environment_has_no_training_stack(runtime_venv):
    for name in ('torch', 'mmengine', 'mmcv', 'cv2'):
        proc = subprocess.run([runtime_venv, '-I', '-c', f'import {name}'],
                              capture_output=True, text=True)
        assert proc.returncode != 0 and 'No module named' in proc.stderr, name


def test_segmentor_without_torch_on_hela(runtime_venv, hela_images, tmp_path):
    model, path = _model(SEG, tmp_path, **SEG_OPTIONS)
    meta = json.loads({p.key: p.value for p in onnx.load(path).metadata_props}['mmseq.runtime'])
    assert meta['resize'] == dict(scale=[550, 350], scale_factor=None, keep_ratio=True,
                                  interpolation='bilinear')
    assert meta['classes'] == ['background', 'nucleus'] and meta['align_corners'] is False
    images = [hela_images['frame'], hela_images['crop']]
    printed = _serve(runtime_venv, path, images, tmp_path / 'out')
    full_stack = OnnxModel(path, threads=1)
    for image in images:
        stem = osp.splitext(osp.basename(image))[0]
        got = np.load(tmp_path / 'out' / f'{stem}.npz')['sem_seg']
        data = full_stack.load(image)
        assert data['inputs'].shape[1:] == ((350, 550) if stem == 'frame16' else (350, 467))
        ref_torch = pytorch_predict(model, data).pred_sem_seg.data[0].numpy()
        ref_onnx = full_stack.predict_loaded(data).pred_sem_seg.data[0].numpy()
        assert got.shape == mmcv.imread(image).shape[:2]
        assert 0.05 < ref_torch.mean() < 0.95  # both classes predicted: a real comparison
        assert (got == ref_onnx).mean() >= 0.9999, stem
        assert (got == ref_torch).mean() >= 0.999, stem
        drawn = mmcv.imread(str(tmp_path / 'out' / f'{stem}.png'))
        assert drawn.shape == mmcv.imread(image).shape
    assert printed.count('2 classes: background, nucleus') == 2, printed

    # --labels: IoU over the images, against label maps (here PyTorch's predictions with a
    # band of ignored pixels), as mmseg's IoUMetric sums it
    labels_dir = tmp_path / 'labels'
    labels_dir.mkdir()
    intersect, union = np.zeros(2), np.zeros(2)
    for image in images:
        stem = osp.splitext(osp.basename(image))[0]
        labels = pytorch_predict(model, full_stack.load(image)).pred_sem_seg.data[0].numpy()
        labels = labels.astype(np.uint8)
        labels[:20] = 255
        mmcv.imwrite(labels, str(labels_dir / f'{stem}.png'))
        got = np.load(tmp_path / 'out' / f'{stem}.npz')['sem_seg'][20:]
        for k in (0, 1):
            intersect[k] += ((got == k) & (labels[20:] == k)).sum()
            union[k] += ((got == k) | (labels[20:] == k)).sum()
    printed = _serve(runtime_venv, path, images, tmp_path / 'out', '--labels', str(labels_dir))
    iou = 100 * intersect / union
    assert f'IoU of nucleus: {iou[1]:.2f}' in printed and f'mIoU: {iou.mean():.2f}' in printed, \
        printed


def test_detector_without_torch_on_hela(runtime_venv, hela_images, tmp_path):
    model, path = _model(DET, tmp_path, **{'model.test_cfg.score_thr': 0.0})
    images = [hela_images['tile'], hela_images['tile_crop']]
    _serve(runtime_venv, path, images, tmp_path / 'out')
    full_stack = OnnxModel(path, threads=1)
    limits = detection_limits(model)
    for image in images:
        stem = osp.splitext(osp.basename(image))[0]
        got = dict(np.load(tmp_path / 'out' / f'{stem}.npz'))
        data = full_stack.load(image)
        ref_onnx = full_stack.predict_loaded(data)
        assert len(got['boxes']) == len(ref_onnx.pred_instances) == limits['max_per_img']
        np.testing.assert_allclose(got['boxes'], ref_onnx.pred_instances.bboxes.numpy(),
                                   atol=1e-3, rtol=0)
        np.testing.assert_allclose(got['scores'], ref_onnx.pred_instances.scores.numpy(),
                                   atol=1e-6, rtol=0)
        # the torch-free boxes against PyTorch's own test_step
        sample = full_stack.predict_loaded(data)
        sample.pred_instances.bboxes = torch.from_numpy(got['boxes'])
        sample.pred_instances.scores = torch.from_numpy(got['scores'])
        sample.pred_instances.labels = torch.from_numpy(got['labels'])
        row = compare(pytorch_predict(model, data), sample, stem, limits)
        assert row.ok and row.matched >= 95, row.row()
        h, w = mmcv.imread(image).shape[:2]
        assert got['boxes'][:, 2].max() <= w + 1e-3 and got['boxes'][:, 3].max() <= h + 1e-3
