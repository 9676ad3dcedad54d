"""python -m gateway"""

from gateway.bootstrap import spec
from gateway.config import GatewaySettings
from services.common.server import run

if __name__ == "__main__":
    run(spec(GatewaySettings()))
