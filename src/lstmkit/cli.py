"""The lstmkit command line: one verb per action.

    lstmkit demo        train a small LSTM on a synthetic memory task and print its accuracy
"""

import argparse
import sys

EXAMPLES = """examples:
  lstmkit demo                       train a small LSTM on a synthetic memory task
"""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="lstmkit", description="The LSTM of the textbook, exact and fast on a CPU.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser("demo", help="train a small LSTM on a synthetic memory task "
                               "(example: lstmkit demo --epochs 3)")
    demo.add_argument("--epochs", type=int, default=3, help="passes over the training set")
    demo.add_argument("--seed", type=int, default=0, help="seed for data and initialisation")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from lstmkit.tasks.demo import run_demo

        run_demo(epochs=args.epochs, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
