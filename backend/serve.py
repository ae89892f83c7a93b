"""``python -m backend.serve``: run the gan3d inference server (see docs/protocol.md).

Examples::

    python -m backend.serve                                   # embedded default model on 127.0.0.1:5577
    python -m backend.serve --checkpoint cars.safetensors --device cuda:0 --max_batch 16
    python -m backend.serve --random_init small --bind tcp://127.0.0.1:0      # any free port
    python -m backend.serve --workers 2 --device auto          # one worker per GPU
    python -m backend.serve --precision bf16                   # ~2x faster on AVX512-BF16 CPUs, see docs/models.md
    python -m backend.serve keygen keys/                       # CurveZMQ keys for a remote server
    python -m backend.serve --bind tcp://0.0.0.0:5577 --keys keys/
"""
from __future__ import annotations

import argparse
import logging
import sys

from backend.cli import add_device_argument, add_flag, run_cli
from backend.protocol import DEFAULT_ADDRESS, create_keys
from backend.server.config import PRECISION_CHOICES


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend.serve",
                                     description="Run the gan3d inference server (see docs/protocol.md).",
                                     epilog="Make CurveZMQ keys with: python -m backend.serve keygen DIR")
    add_flag(parser, "--checkpoint", action="append", default=[], metavar="PATH",
             help="model to serve (.pth or .safetensors); repeat for several (default: embedded model)")
    add_flag(parser, "--random_init", action="append", default=[], metavar="CONFIG",
             help="serve an untrained generator of this preset (e.g. small, paper); repeatable")
    add_flag(parser, "--bind", default=DEFAULT_ADDRESS, help="front address (default %(default)s; port 0 = any)")
    add_device_argument(parser)
    add_flag(parser, "--workers", type=int, default=1, help="worker processes (default %(default)s)")
    add_flag(parser, "--max_batch", type=int, default=8, help="meshes per generator call (default %(default)s)")
    add_flag(parser, "--precision", choices=PRECISION_CHOICES, default="fp32",
             help="compute precision: fp32 (default, exact) or bf16 (about 2x faster on CPUs with "
                  "AVX512-BF16, textures move by a few 8-bit levels; see docs/models.md)")
    add_flag(parser, "--keys", metavar="DIR", help="CurveZMQ keys folder (required off loopback)")
    add_flag(parser, "--insecure", action="store_true",
             help="allow a non-loopback bind without CURVE (trusted networks only)")
    add_flag(parser, "--client_hwm", type=int, default=64, metavar="N",
             help="replies queued per client before its requests pause (default %(default)s)")
    add_flag(parser, "--client_sndbuf", type=int, default=0, metavar="BYTES",
             help="kernel send buffer per client connection (default 0 = OS default)")
    add_flag(parser, "--log_level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def _keygen_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend.serve keygen",
                                     description="Create CurveZMQ server and client keys in DIR.")
    parser.add_argument("dir")
    add_flag(parser, "--client_name", default="client", help="name of the client keypair (default %(default)s)")
    return parser


def _keygen(args: argparse.Namespace) -> int:
    root = create_keys(args.dir, args.client_name)
    print(f"keys in {root}: give clients {root / 'server.key'} and {root / (args.client_name + '.key_secret')}; "
          f"serve with --keys {root}")
    return 0


def build_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser of this CLI: serving (no sub-command) and ``keygen``."""
    return {"serve": _serve_parser(), "keygen": _keygen_parser()}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keygen"]:
        args = _keygen_parser().parse_args(argv[1:])
        return run_cli(lambda: _keygen(args))
    args = _serve_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return run_cli(lambda: _serve(args))


def _serve(args: argparse.Namespace) -> int:
    from backend.server import ServerConfig, run_server

    def announce(broker) -> None:
        models = ", ".join(m["name"] + (" (untrained)" if m["untrained"] else "") for m in broker.models)
        print(f"gan3d server ready on {broker.address} - models: {models}", flush=True)

    config = ServerConfig(bind=args.bind, checkpoints=args.checkpoint, random_init=args.random_init,
                          device=args.device, workers=args.workers, max_batch=args.max_batch,
                          keys_dir=args.keys, insecure=args.insecure, client_hwm=args.client_hwm,
                          client_sndbuf=args.client_sndbuf, precision=args.precision)
    run_server(config, on_ready=announce)   # ServerStartError / InsecureBindError / ValueError: one line, status 1
    print("gan3d server stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
