"""python -m bench"""

import os
import sys

# The benchmark forks its processes while its own gRPC channels are open; gRPC's fork handlers are not needed
# (children exec at once) and would log a warning per fork.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
