"""The guard of a private directory (private_dirs): ``python -I -S private_dir_guard.py DIR``.

Waits until its standard input closes (its owner closed it, or died), then removes DIR,
retrying while processes that stop at the same moment still write in it. Standard library
only, and no package import: it starts in milliseconds.
"""

import os
import shutil
import signal
import sys
import time

RETRY_FOR_S = 30.0


def main(directory: str) -> int:
    # Interruptions are for the owner; the guard's work starts when the owner is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while sys.stdin.buffer.read(65536):
        pass
    deadline = time.monotonic() + RETRY_FOR_S
    while os.path.lexists(directory) and time.monotonic() < deadline:
        shutil.rmtree(directory, ignore_errors=True)
        if os.path.lexists(directory):
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
