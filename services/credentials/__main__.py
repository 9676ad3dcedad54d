"""python -m services.credentials"""

from services.common.server import run
from services.credentials.bootstrap import spec
from services.credentials.config import CredentialsSettings

if __name__ == "__main__":
    run(spec(CredentialsSettings()))
