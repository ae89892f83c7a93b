"""Entry point of a worker process: ``python -m backend.server.run_worker CONFIG_JSON`` (started by the broker)."""
import logging
import sys

from backend.server.worker import WorkerConfig, serve

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sys.exit(serve(WorkerConfig.from_json(sys.argv[1])))
