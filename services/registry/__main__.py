"""python -m services.registry"""

from services.common.server import run
from services.registry.bootstrap import spec
from services.registry.config import RegistrySettings

if __name__ == "__main__":
    run(spec(RegistrySettings()))
