"""Start training: in-process for one CPU worker, otherwise through torch's own elastic
launcher (torch.distributed.run, the machinery behind torchrun), one process per GPU or
per CPU worker, NCCL on GPUs and gloo on CPUs."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from .. import atomic
from ..errors import ConfigError, ImfcodecError
from .config import TrainConfig
from .trainer import RunPaths, train


class WorkerFailed(ImfcodecError):
    """A launched worker exited with an error; it printed its own message first."""


@dataclass(frozen=True)
class LaunchSpec:
    gpus: int = 0
    workers: int = 1
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None


def launch(cfg: TrainConfig, paths: RunPaths, spec: LaunchSpec, resume: bool = False) -> None:
    nproc = spec.gpus if spec.gpus > 0 else spec.workers
    device = "cuda" if spec.gpus > 0 else "cpu"
    if nproc <= 1 and spec.nnodes == 1 and spec.gpus == 0:
        train(cfg, paths, device=device, resume=resume)
        return
    paths.out.mkdir(parents=True, exist_ok=True)
    job = paths.out / "launch.json"
    atomic.write_text(
        job,
        json.dumps(
            {
                "config": json.loads(cfg.to_json()),
                "data": str(paths.data),
                "val": str(paths.val) if paths.val else None,
                "out": str(paths.out),
                "cache": str(paths.cache) if paths.cache else None,
                "resume": resume,
                "device": device,
            }
        ),
    )
    from torch.distributed.run import get_args_parser, run

    argv = [f"--nproc-per-node={nproc}", f"--nnodes={spec.nnodes}"]
    if spec.nnodes > 1:
        if not spec.rdzv_endpoint:
            raise ConfigError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT")
        argv += [f"--node-rank={spec.node_rank}", "--rdzv-backend=c10d", f"--rdzv-endpoint={spec.rdzv_endpoint}"]
    else:
        argv.append("--standalone")
    argv += ["--module", "imfcodec.training.worker", str(job)]
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    try:
        run(get_args_parser().parse_args(argv))
    except ChildFailedError as exc:
        ranks = ", ".join(f"rank {rank} (exit {f.exitcode})" for rank, f in sorted(exc.failures.items()))
        raise WorkerFailed(f"training stopped: {ranks} failed; each worker's own message is above") from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `imfcodec train`")
