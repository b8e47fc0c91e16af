"""ipykernel with a cap on what the kernel writes to stdout/stderr, the kernel the sandbox runs.

    python -m autograder.capped_kernel --max-output-mb 16 -f CONNECTION_FILE

A print loop producing gigabytes grows ipykernel's output buffer faster than it can be sent, so the grader's
own count of received output (autograder/steps/execute.py) may never see it: the kernel just runs out of
memory while encoding the buffer. Counting at `write` catches it at the source: past the cap the kernel
writes OUTPUT_LIMIT_MARK to its real stderr (a pipe only the grader reads) and exits. Student code could
remove the wrapper; then the grader-side count and the memory limit still bound the damage.
"""

from __future__ import annotations

import os
import sys

OUTPUT_LIMIT_MARK = "dscourse-sandbox: output limit exceeded"


def install(max_bytes: int) -> None:
    from ipykernel.iostream import OutStream

    write = OutStream.write
    written = [0]
    real_stderr = os.dup(2)  # ipykernel later redirects fd 2 into its own capture; this copy still reaches the grader

    def capped_write(self, string):
        written[0] += len(string)
        if written[0] > max_bytes:
            os.write(real_stderr, f"\n{OUTPUT_LIMIT_MARK} ({max_bytes} bytes)\n".encode())
            os._exit(3)
        return write(self, string)

    OutStream.write = capped_write


def main() -> None:
    args = sys.argv[1:]
    i = args.index("--max-output-mb")
    install(int(float(args[i + 1]) * 2**20))
    sys.argv = [sys.argv[0], *args[:i], *args[i + 2 :]]
    if sys.path[0] == "" or os.path.abspath(sys.path[0]) == os.getcwd():
        del sys.path[0]  # as ipykernel_launcher does: the scratch dir must not shadow modules while starting
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
