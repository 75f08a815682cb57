"""Write the small synthetic PoseTrack18-layout video dataset used by the demo and the tests.

Example::

    python tools/dataset_converters/make_synthetic_posetrack.py --out data/synthetic_posetrack18 --seed 0
"""
import argparse
import inspect
import time

from diffpose_mm.testing import make_synthetic_posetrack


def parse_args(argv=None):
    defaults = {k: p.default for k, p in inspect.signature(make_synthetic_posetrack).parameters.items()}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True, help='output data root')
    parser.add_argument('--seed', type=int, default=defaults['seed'], help='random seed (output is deterministic)')
    parser.add_argument('--num-train-videos', type=int, default=defaults['num_train_videos'])
    parser.add_argument('--num-val-videos', type=int, default=defaults['num_val_videos'])
    parser.add_argument('--train-frames', type=int, default=defaults['train_frames'], help='frames per train video')
    parser.add_argument('--val-frames', type=int, default=defaults['val_frames'], help='frames per val video')
    parser.add_argument('--img-size', type=int, nargs=2, default=defaults['img_size'], metavar=('W', 'H'))
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    summary = make_synthetic_posetrack(args.out, seed=args.seed, num_train_videos=args.num_train_videos,
                                       num_val_videos=args.num_val_videos, train_frames=args.train_frames,
                                       val_frames=args.val_frames, img_size=tuple(args.img_size))
    print(f'wrote {args.out} in {time.time() - start:.1f}s: ' + ', '.join(f'{k}={v}' for k, v in summary.items()))


if __name__ == '__main__':
    main()
