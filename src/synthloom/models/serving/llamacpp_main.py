"""`python -m synthloom.models.serving.llamacpp_main --model FILE --port N [...]`: one llama.cpp
server process for `serve: {engine: llama.cpp}`, through the same package (xllamacpp) as the embedded
model. It serves until it is sent SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synthloom-llamacpp")
    parser.add_argument("--model", required=True, help="GGUF file")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--parallel", type=int, default=4, help="slots (requests decoded at once)")
    parser.add_argument("--ctx", type=int, default=4096, help="context per slot")
    parser.add_argument("--threads", type=int, default=None)
    return parser


def main(argv: list[str]) -> int:
    options = _parser().parse_args(argv)
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = options.model
    params.n_parallel = max(1, options.parallel)
    params.n_ctx = options.ctx * params.n_parallel
    threads = options.threads or max(1, os.cpu_count() or 1)
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = [options.host]
    params.port = options.port
    params.verbosity = -1
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    signal.signal(signal.SIGINT, lambda signum, frame: done.set())
    server = xllamacpp.Server(params)
    while not done.wait(0.5):  # with a timeout, so that the signal handler gets to run
        pass
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
