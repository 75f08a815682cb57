"""Write the small synthetic Human3.6M-layout 3D pose dataset (MMPose's ``data/h36m`` layout) used by the 3D demo,
the lifting benchmark and the tests.

Example::

    python tools/dataset_converters/make_synthetic_h36m.py --out data/synthetic_h36m --seed 0
"""
import argparse
import inspect
import time

from diffpose_mm.testing import make_synthetic_h36m


def parse_args(argv=None):
    defaults = {k: p.default for k, p in inspect.signature(make_synthetic_h36m).parameters.items()}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True, help='output data root')
    parser.add_argument('--seed', type=int, default=defaults['seed'], help='random seed (output is deterministic)')
    parser.add_argument('--train-subjects', nargs='+', default=list(defaults['train_subjects']))
    parser.add_argument('--test-subjects', nargs='+', default=list(defaults['test_subjects']))
    parser.add_argument('--actions', nargs='+', default=list(defaults['actions']))
    parser.add_argument('--train-subactions', type=int, default=defaults['train_subactions'])
    parser.add_argument('--test-subactions', type=int, default=defaults['test_subactions'])
    parser.add_argument('--frames', type=int, default=defaults['frames'], help='frames per clip (50 fps)')
    parser.add_argument('--noise-px', type=float, default=defaults['noise_px'], help='base 2D noise std (px)')
    parser.add_argument('--occlusion-rate', type=float, default=defaults['occlusion_rate'])
    parser.add_argument('--swap-rate', type=float, default=defaults['swap_rate'])
    parser.add_argument('--num-gmm-kernels', type=int, default=defaults['num_gmm_kernels'])
    parser.add_argument(
        '--camera-file', default=defaults['camera_file'], help="Human3.6M cameras.pkl (default: "
        "the repository's tests/data/h36m/cameras.pkl, MMPose's test fixture)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    summary = make_synthetic_h36m(args.out, seed=args.seed, train_subjects=args.train_subjects,
                                  test_subjects=args.test_subjects, actions=args.actions,
                                  train_subactions=args.train_subactions, test_subactions=args.test_subactions,
                                  frames=args.frames, noise_px=args.noise_px, occlusion_rate=args.occlusion_rate,
                                  swap_rate=args.swap_rate, num_gmm_kernels=args.num_gmm_kernels,
                                  camera_file=args.camera_file)
    print(f'wrote {args.out} in {time.time() - start:.1f}s: ' + ', '.join(f'{k}={v}' for k, v in summary.items()))


if __name__ == '__main__':
    main()
