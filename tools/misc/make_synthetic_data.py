"""Write a small generated data set in the exact layout of ImageNet, ADE20K or COCO.

    python tools/misc/make_synthetic_data.py imagenet data/imagenet_tiny --num-classes 10
    python tools/misc/make_synthetic_data.py ade20k data/demo/ade      # -> .../ADEChallengeData2016
    python tools/misc/make_synthetic_data.py coco data/demo/coco

Images are noise with shapes in class colours (see mmseq/testing/synthetic_data.py); point a
config's ``data_root`` at the output (``--cfg-options``) to train on it.
"""
import argparse

from mmseq.testing import make_ade20k, make_coco, make_imagenet


def _size(text: str):
    """"64" -> 64, "240x320" -> (240, 320) (height x width)."""
    if 'x' in text:
        h, w = text.lower().split('x')
        return int(h), int(w)
    return int(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='dataset', required=True)

    p = sub.add_parser('imagenet', help='train/<wnid>/*.JPEG, val/*.JPEG, meta/{train,val}.txt')
    p.add_argument('root')
    p.add_argument('--num-classes', type=int, default=10)
    p.add_argument('--per-class', type=int, default=10, help='training images per class')
    p.add_argument('--val-per-class', type=int, default=None,
                   help='validation images per class (default per-class/4)')
    p.add_argument('--size', type=_size, default=64, help='H or HxW')

    p = sub.add_parser('ade20k', help='ADEChallengeData2016/{images,annotations}/...')
    p.add_argument('root', help='the folder that will hold ADEChallengeData2016/')
    p.add_argument('--num-train', type=int, default=40)
    p.add_argument('--num-val', type=int, default=8)
    p.add_argument('--num-classes', type=int, default=8, help='classes used (of 150)')
    p.add_argument('--size', type=_size, default=(256, 320), help='H or HxW')

    p = sub.add_parser('coco', help='{train,val}2017/*.jpg, annotations/instances_*.json')
    p.add_argument('root')
    p.add_argument('--num-train', type=int, default=24)
    p.add_argument('--num-val', type=int, default=8)
    p.add_argument('--num-classes', type=int, default=4, help='categories used (of 80)')
    p.add_argument('--size', type=_size, default=(240, 320), help='H or HxW')

    for p in sub.choices.values():
        p.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)

    if args.dataset == 'imagenet':
        info = make_imagenet(args.root, args.num_classes, args.per_class, args.size,
                             val_per_class=args.val_per_class, seed=args.seed)
        print(f'ImageNet layout in {args.root}: {info["train"]} train / {info["val"]} val '
              f'images, {len(info["classes"])} classes')
    elif args.dataset == 'ade20k':
        info = make_ade20k(args.root, args.num_train, args.num_val, args.size,
                           num_classes=args.num_classes, seed=args.seed)
        print(f'ADE20K layout in {info["root"]}: {info["train"]} training / {info["val"]} '
              'validation images')
    else:
        info = make_coco(args.root, args.num_train, args.num_val, args.size,
                         num_classes=args.num_classes, seed=args.seed)
        print(f'COCO layout in {args.root}: {info["train"]} train2017 / {info["val"]} val2017 '
              f'images, {info["annotations"]["train"]} / {info["annotations"]["val"]} boxes')


if __name__ == '__main__':
    main()
