"""``python -m backend.client``: the command-line client of a running server (a thin shell; never imports torch)::

    python -m backend.client ping --address tcp://127.0.0.1:5577
    python -m backend.client info
    python -m backend.client generate --address ADDR --count N --seed S --out DIR [--format obj|glb]

``generate`` writes the same files as ``python -m backend.generate`` (``mesh_<j>.obj/.mtl/.png`` or
``.glb``, ``latents.npy``, ``samples.json``) through :mod:`backend.export`. The client library itself is
:mod:`backend.protocol` (``from backend.protocol import Client``; ``backend/protocol/connection.py``).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

import numpy as np

from backend.cli import add_flag, run_cli
from backend.protocol import DEFAULT_ADDRESS, Client, ClientError, ProtocolError, load_client_keys


@dataclass
class _Sample:
    """A received mesh in the shape backend.export.export_samples reads."""

    vertices: np.ndarray
    texture: np.ndarray
    seed: int
    class_index: int | None
    class_name: str | None
    truncation: float
    latent: np.ndarray


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend.client", description="Talk to a gan3d server.")
    common = argparse.ArgumentParser(add_help=False)
    add_flag(common, "--address", default=DEFAULT_ADDRESS, help="server address (default %(default)s)")
    add_flag(common, "--keys", metavar="DIR", help="CurveZMQ keys folder (server.key + client.key_secret)")
    add_flag(common, "--timeout", type=float, default=60.0, help="seconds to wait for each reply (default 60)")
    add_flag(common, "--retries", type=int, default=3, help="resends before giving up (default 3)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ping", parents=[common], help="check that a server answers")
    commands.add_parser("info", parents=[common], help="print the server's models and devices as JSON")
    gen = commands.add_parser("generate", parents=[common], help="generate meshes and export them")
    add_flag(gen, "--count", type=int, default=8, help="number of meshes (default 8)")
    add_flag(gen, "--seed", type=int, default=0, help="mesh j uses seed + j (default 0)")
    add_flag(gen, "--model", help="model name from `info` (default: the server's default)")
    add_flag(gen, "--class", dest="class_", help="class name or index of a class-conditional model")
    add_flag(gen, "--truncation", type=float, default=1.0, help="truncated-normal sigma (default 1.0)")
    add_flag(gen, "--texture_size", type=int, help="texture size (one of the model's texture_sizes)")
    add_flag(gen, "--out", required=True, metavar="DIR", help="output folder")
    add_flag(gen, "--format", choices=("obj", "glb"), default="obj", help="obj (default) or glb")
    add_flag(gen, "--target_length", type=float, metavar="M",
             help="scale each mesh so its longest horizontal side (a car: front to back) is M metres")
    add_flag(gen, "--origin", choices=("object", "bottom"), default="object")
    return parser


def _generate(client: Client, args: argparse.Namespace) -> str:
    from tqdm import tqdm

    from backend.export import export_samples
    from backend.mesh import uv_sphere

    info = client.info()
    model = info.model(args.model)
    template = uv_sphere(31)
    if not (np.array_equal(info.topology.faces, template.faces) and np.array_equal(info.topology.uvs, template.uvs)
            and np.array_equal(info.topology.face_uvs, template.face_uvs)):
        raise ValueError("the server's mesh topology differs from this checkout's template; update one of them")
    class_: int | str | None = args.class_
    if isinstance(class_, str) and class_.isdigit():
        class_ = int(class_)
    stream = client.generate_stream(args.count, args.seed, model=model.name, class_=class_,
                                    truncation=args.truncation, texture_size=args.texture_size)
    if model.untrained:
        print(f"WARNING: model {model.name!r} is UNTRAINED ({model.source}): its meshes are noise textures on a "
              f"plain sphere", file=sys.stderr)
    samples = (_Sample(m.vertices, m.texture, m.seed, m.class_index, m.class_name, m.truncation, m.latent)
               for m in stream)
    metadata = {"model": model.source, "untrained": model.untrained, "config": model.config,
                "class_names": model.classes or ([model.category] if model.category else []), "dataset": None,
                "seed": args.seed, "server": client.address, "server_model": model.name}
    with tqdm(total=args.count, unit="mesh", desc="generating", disable=None) as progress:
        summary = export_samples(samples, args.out, template, args.format, args.target_length, args.origin,
                                 metadata=metadata, on_mesh=lambda n: progress.update(1))
    return (f"wrote {summary.count} meshes ({args.format}) to {args.out} from {client.address}"
            f"{' [UNTRAINED model]' if model.untrained else ''}; details in {summary.manifest}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args), (ClientError, ProtocolError, KeyError))


def _run(args: argparse.Namespace) -> None:
    keys = load_client_keys(args.keys) if args.keys else None
    with Client(args.address, timeout=args.timeout, retries=args.retries, keys=keys) as client:
        if args.command == "ping":
            reply = client.ping()
            print(f"{reply.get('server')} at {args.address}: up {reply.get('uptime_s')} s, "
                  f"{reply.get('workers')} worker(s), {reply.get('queued')} request(s) running")
        elif args.command == "info":
            info = client.info()
            print(json.dumps({"server": info.server, "devices": info.devices, "workers": info.workers,
                              "default_model": info.default_model, "models": [m.__dict__ for m in info.models],
                              "limits": info.limits}, indent=2))
        else:
            print(_generate(client, args))


if __name__ == "__main__":
    sys.exit(main())
