"""Entry point of one Horovod worker: ``python -m mcnn_train.worker RUN_DIR/config.json``.

Started by ``hcs train --workers N`` (horovodrun with Gloo on this machine) or by the user on
a cluster (``horovodrun -np 8 -H a:4,b:4 ...`` or ``mpirun -np 8 ...``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from mcnn_infer.errors import HcsError


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mcnn_train.worker RUN_DIR/config.json", file=sys.stderr)
        return 2
    from mcnn_train.config import TrainConfig
    from mcnn_train.run_lock import run_folder_lock
    from mcnn_train.trainer import run_worker

    try:
        config = TrainConfig.load(Path(args[0])).resolved()
        # rank 0 of a launcher the user started locks the run folder; workers of
        # `hcs train --workers N` inherit the lock of the process that started them
        with run_folder_lock(config.out):
            run_worker(config)
    except HcsError as exc:
        print(f"hcs: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
