"""The lstmkit command line: one verb per action, flags generated from the config fields.

    lstmkit train TASK [--FIELD VALUE ...] [--out RUN_DIR | --resume RUN_DIR]
    lstmkit evaluate RUN_DIR
    lstmkit predict RUN_DIR FILE
    lstmkit sample RUN_DIR [--prime TEXT --length N --temperature T --top-k K --seed S]
    lstmkit demo

`lstmkit train` takes one flag per hyperparameter of the task's estimator that is a field
of ModelConfig or TrainConfig, and one per field of the task's options; flag names are the
field names (hidden_size -> --hidden-size), their help the field's comment.
"""

import argparse
import inspect
import re
import sys
import types
from dataclasses import MISSING, fields, is_dataclass
from importlib import import_module

from lstmkit.train.config import TrainConfig
from lstmkit.train.model import ModelConfig
from lstmkit.train.rundir import RunDir, default_run_dir

TASKS = {"mnist": "lstmkit.tasks.mnist", "stock": "lstmkit.tasks.stock",
         "pollution": "lstmkit.tasks.pollution", "weather": "lstmkit.tasks.weather",
         "csv": "lstmkit.tasks.csv_file", "text": "lstmkit.tasks.text"}

EXAMPLES = """commands, with an example each:
  train      lstmkit train mnist --epochs 3 --hidden-size 128 --out runs/mnist
  evaluate   lstmkit evaluate runs/mnist
  predict    lstmkit predict runs/mnist digit.png
  sample     lstmkit sample runs/text --prime "ROMEO:" --length 500 --temperature 0.8
  demo       lstmkit demo --epochs 3
"""


def field_comments(cls):
    """{field: its trailing comment} read from the dataclass's source (and its bases')."""
    pattern = re.compile(r"^\s+(\w+):[^#]*#\s*(.*)$")
    comments = {}
    for klass in reversed([k for k in cls.__mro__ if is_dataclass(k)]):  # a subclass wins
        comments.update({m.group(1): m.group(2) for m in
                         map(pattern.match, inspect.getsource(klass).splitlines()) if m})
    return comments


def _parser_for(annotation):
    """The str -> value function of a field type; 'none' gives None for optional fields."""
    options = [t for t in getattr(annotation, "__args__", (annotation,)) if t is not type(None)]
    base = options[0]
    optional = isinstance(annotation, types.UnionType) and len(options) == 1

    def parse(text):
        if optional and text.lower() == "none":
            return None
        return base(text)

    parse.__name__ = base.__name__  # argparse names the type in its error messages
    return parse


def config_fields(task):
    """(name, annotation, default, help) of every flag of `lstmkit train task`."""
    module = import_module(TASKS[task])
    estimator_defaults = {name: p.default for name, p in
                          inspect.signature(module.ESTIMATOR).parameters.items()}
    flags = []
    for cls in (ModelConfig, TrainConfig):
        comments = field_comments(cls)
        for f in fields(cls):
            if f.name in estimator_defaults:
                default = module.DEFAULTS.get(f.name, estimator_defaults[f.name])
                flags.append((f.name, f.type, default, comments.get(f.name, "")))
    comments = field_comments(module.OPTIONS)
    flags += [(f.name, f.type, f.default, comments.get(f.name, ""))
              for f in fields(module.OPTIONS)]
    return flags


def add_flags(parser, flags):
    """One --flag per field; defaults are left out of the namespace unless given. A field
    without a default is a positional argument (lstmkit train csv FILE)."""
    for name, annotation, default, help_text in flags:
        if default is MISSING:
            parser.add_argument(name, type=_parser_for(annotation), nargs="?",
                                default=argparse.SUPPRESS, metavar=name.upper(), help=help_text)
            continue
        flag = "--" + name.replace("_", "-")
        text = f"{help_text} (default: {default})"
        if annotation is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=text)
        else:
            parser.add_argument(flag, type=_parser_for(annotation), default=argparse.SUPPRESS,
                                metavar=name.upper(), help=text)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="lstmkit", description="The LSTM of the textbook, exact and fast on a CPU.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train = commands.add_parser("train", help="train a model on a task, writing a run directory "
                                "(lstmkit train mnist --epochs 3)")
    tasks = train.add_subparsers(dest="task", metavar="TASK", required=True)
    for task in TASKS:
        sub = tasks.add_parser(task, help=f"the {task} task (lstmkit train {task} --help)")
        add_flags(sub, config_fields(task))
        sub.add_argument("--out", metavar="RUN_DIR", help="run directory to write "
                         "(default: runs/<task>-<date>-<time>)")
        sub.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run "
                         "with its own config")
    evaluate = commands.add_parser("evaluate", help="score a run's model on its test set "
                                   "(lstmkit evaluate runs/mnist)")
    evaluate.add_argument("run_dir", metavar="RUN_DIR")
    predict = commands.add_parser("predict", help="predict with a run's model "
                                  "(lstmkit predict runs/mnist digit.png)")
    predict.add_argument("run_dir", metavar="RUN_DIR")
    predict.add_argument("file", metavar="FILE")
    sample = commands.add_parser("sample", help="generate text with a text run's model "
                                 "(lstmkit sample runs/text --prime ROMEO:)")
    sample.add_argument("run_dir", metavar="RUN_DIR")
    sample.add_argument("--prime", default="\n", help="the text the sample starts with and the "
                        "model reads first (default: a line break)")
    sample.add_argument("--length", type=int, default=500, help="characters to generate after "
                        "the prime (default: 500)")
    sample.add_argument("--temperature", type=float, default=0.8, help="divides the logits: "
                        "below 1 safer, above 1 wilder, 0 always the most probable (default: 0.8)")
    sample.add_argument("--top-k", type=int, help="draw only among the K most probable "
                        "characters (default: all)")
    sample.add_argument("--seed", type=int, help="seed for the draws (default: a fresh one)")
    demo = commands.add_parser("demo", help="train a small LSTM on a synthetic memory task "
                               "(lstmkit demo --epochs 3)")
    demo.add_argument("--epochs", type=int, default=3, help="passes over the training set")
    demo.add_argument("--seed", type=int, default=0, help="seed for data and initialisation")
    return parser


def split_train_args(task, args):
    """(estimator params, task options) from a parsed `train` namespace, defaults filled in."""
    given = vars(args)
    params, options = {}, {}
    module = import_module(TASKS[task])
    option_names = {f.name for f in fields(module.OPTIONS)}
    for name, _, default, _ in config_fields(task):
        value = given.get(name, default)
        if value is MISSING:
            raise ValueError(f"lstmkit train {task} needs {name.upper()} (see --help)")
        (options if name in option_names else params)[name] = value
    return params, module.OPTIONS(**options)


def _train(args):
    module = import_module(TASKS[args.task])
    if args.resume:
        given = [name for name, *_ in config_fields(args.task) if name in vars(args)]
        if given or args.out:
            raise ValueError(f"--resume continues {args.resume} with its own config; leave out "
                             f"{', '.join('--' + g.replace('_', '-') for g in given) or '--out'}")
        run = RunDir(args.resume)
        config = run.read_json("config.json")
        if (run.path / "metrics.json").is_file():
            raise ValueError(f"{args.resume} has finished (its metrics.json is written): score "
                             f"it with lstmkit evaluate {args.resume}, or start a new run")
        options = module.OPTIONS(**config["options"])
        return module.train(config["estimator"], options, args.resume, resume=True)
    params, options = split_train_args(args.task, args)
    return module.train(params, options, args.out or default_run_dir(args.task))


def _task_of(run_dir):
    task = RunDir(run_dir).read_json("config.json").get("task")
    if task not in TASKS:
        raise ValueError(f"{run_dir} is a run of {task!r}, which this lstmkit does not know")
    return import_module(TASKS[task])


def _sample(args):
    task = _task_of(args.run_dir)
    if not hasattr(task, "sample_run"):
        raise ValueError(f"{args.run_dir} is not a run of the text task; only language models "
                         "sample (lstmkit train text)")
    task.sample_run(args.run_dir, args.prime, args.length, args.temperature, args.top_k,
                    args.seed)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            _train(args)
        elif args.command == "evaluate":
            _task_of(args.run_dir).evaluate_run(args.run_dir)
        elif args.command == "predict":
            _task_of(args.run_dir).predict_file(args.run_dir, args.file)
        elif args.command == "sample":
            _sample(args)
        else:
            from lstmkit.tasks.demo import run_demo

            run_demo(epochs=args.epochs, seed=args.seed)
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError, RuntimeError) as error:
        print(f"lstmkit {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
