"""One flag style everywhere (backend/cli.py): every long option of every command line has its snake_case
spelling (the original project's style), every multi-word option also its dashed alias, the dashed spellings
that were documented before still parse, and every command that takes a device accepts ``--gpu_ids`` too."""
from __future__ import annotations

import argparse
import re

import pytest

import build_addon
from backend import client, generate, serve, train
from backend.render import __main__ as render_cli
from fid import evaluate

SNAKE = re.compile(r"^--[a-z0-9]+(_[a-z0-9]+)*$")


def _walk(name: str, parser: argparse.ArgumentParser):
    """(command name, parser) for a parser and each of its sub-command parsers, recursively."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _walk(f"{name} {sub_name}", sub)


def _all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    roots = [("backend.generate", generate.build_parser()), ("backend.client", client.build_parser()),
             ("backend.train", train.build_parser()[0]), ("backend.render", render_cli.build_parser()),
             ("build_addon.py", build_addon.build_parser())]
    roots += [(f"backend.serve {k}", p) for k, p in serve.build_parsers().items()]
    roots += [(f"fid.evaluate {k}", p) for k, p in evaluate.build_parsers().items()]
    return [pair for name, parser in roots for pair in _walk(name, parser)]


PARSERS = _all_parsers()


def test_every_cli_is_walked():
    names = {name for name, _ in PARSERS}
    for expected in ("backend.train data synth", "backend.train pseudogt", "backend.train recon pseudogt",
                     "backend.train gan train", "backend.train pipeline run", "backend.train poses run",
                     "backend.train templates remesh", "fid.evaluate floor", "backend.serve keygen",
                     "backend.client generate"):
        assert expected in names
    assert len(PARSERS) > 25


@pytest.mark.parametrize("name, parser", PARSERS, ids=[name for name, _ in PARSERS])
def test_long_options_are_snake_case_with_dashed_aliases(name, parser):
    problems = []
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or longs == ["--help"]:
            continue
        if not any(SNAKE.match(o) for o in longs):
            problems.append(f"{longs}: no snake_case spelling")
        for option in longs:
            twin = "--" + (option[2:].replace("_", "-") if "_" in option else option[2:].replace("-", "_"))
            if twin != option and twin not in longs:
                problems.append(f"{option}: its twin {twin} is missing")
        if action.dest != argparse.SUPPRESS and "-" in action.dest:
            problems.append(f"{longs}: dest {action.dest!r}")
    assert not problems, f"{name}: " + "; ".join(problems)


def _train(argv: list[str]) -> argparse.Namespace:
    parser, defaults = train.build_parser()
    return parser.parse_args(train._with_default_command(argv, defaults))


#: Spellings users and scripts typed before the flags were unified (README, docs, the pipeline's child commands).
OLD_SPELLINGS = [
    (["data", "synth", "--n", "2", "--out", "o", "--views-per-car", "2", "--body-types", "van"],
     {"views_per_car": 2, "body_types": "van"}),
    (["data", "check", "o", "--min-iou", "0.9"], {"min_iou": 0.9}),
    (["data", "import", "cub", "--root", "r", "--out", "o", "--cmr-root", "c", "--all-p3d", "--no-filter"],
     {"cmr_root": "c", "all_p3d": True, "no_filter": True}),
    (["recon", "--collection", "c", "--poses", "truth", "--out", "o", "--batch-size", "4", "--checkpoint-every", "5",
      "--preview-every", "6"], {"batch_size": 4, "checkpoint_every": 5, "preview_every": 6, "command": "train"}),
    (["recon", "pseudogt", "--from-truth", "--collection", "c", "--out", "o", "--texture-resolution", "64",
      "--no-fid-stats", "--batch-size", "2"],
     {"from_truth": True, "texture_resolution": 64, "no_fid_stats": True, "batch_size": 2}),
    (["templates", "remesh", "a.obj", "--out", "t.safetensors", "--no-preview"], {"no_preview": True}),
    (["pipeline", "--collection", "c", "--out", "o", "--no-parts", "--fid-collection", "f", "--gan-minutes", "3",
      "--from-truth"], {"parts": False, "fid_collection": "f", "gan_minutes": 3.0, "from_truth": True}),
    (["gan", "--pseudogt", "p", "--out", "o", "--batch-size", "2", "--fid-every", "3", "--continue-train"],
     {"batch_size": 2, "fid_every": 3, "continue_train": True}),
]


@pytest.mark.parametrize("argv, expected", OLD_SPELLINGS, ids=[" ".join(a[:2]) for a, _ in OLD_SPELLINGS])
def test_old_dashed_spellings_still_parse(argv, expected):
    args = _train(argv)
    assert {k: getattr(args, k) for k in expected} == expected
    snake = ["--" + a[2:].replace("-", "_") if a.startswith("--") else a for a in argv]
    assert vars(_train(snake)) == vars(args)


def test_old_spellings_of_the_other_clis():
    args = generate.build_parser().parse_args(["--how-many", "3", "--batch-size", "2", "--gpu-ids", "-1",
                                               "--target-length", "4.5", "--truncation-sigma", "0.7"])
    assert (args.how_many, args.batch_size, args.device, args.target_length, args.truncation) == (3, 2, "-1", 4.5, 0.7)
    args = evaluate.build_parsers()["evaluate"].parse_args(["--random-init", "small", "--dataset", "d",
                                                            "--num-samples", "4", "--cache-dir", "c"])
    assert (args.random_init, args.num_samples, str(args.cache_dir)) == ("small", 4, "c")
    args = build_addon.build_parser().parse_args(["--wheel-cache", "w", "--no-legacy"])
    assert str(args.wheel_cache) == "w" and args.no_legacy


@pytest.mark.parametrize("name, parser", [(n, p) for n, p in PARSERS
                                          if any("--device" in a.option_strings for a in p._actions)],
                         ids=lambda value: value if isinstance(value, str) else "")
def test_device_and_gpu_ids_are_one_option(name, parser):
    action = next(a for a in parser._actions if "--device" in a.option_strings)
    assert action.dest == "device" and {"--gpu_ids", "--gpu-ids"} <= set(action.option_strings), name


def test_commands_that_run_a_network_take_a_device():
    with_device = {name for name, parser in PARSERS if any("--device" in a.option_strings for a in parser._actions)}
    assert {"backend.generate", "backend.serve serve", "fid.evaluate evaluate", "fid.evaluate stats",
            "fid.evaluate images", "fid.evaluate floor", "backend.train recon train", "backend.train recon evaluate",
            "backend.train pseudogt", "backend.train recon pseudogt", "backend.train gan train",
            "backend.train pipeline run"} <= with_device
