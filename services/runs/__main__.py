"""python -m services.runs"""

from services.common.server import run
from services.runs.bootstrap import spec
from services.runs.config import RunsSettings

if __name__ == "__main__":
    run(spec(RunsSettings()))
