"""Stand-in for the get-pip.py bootstrap script that ansible-test downloads from
a host this machine cannot reach. It bootstraps pip with the interpreter's own
ensurepip, then installs the requested pip (e.g. pip==24.2) from the wheels
that tools/test.sh downloaded beside this file (`wheels/`): that pip verifies
TLS with the system trust store, so later installs from the index work.
tools/test.sh puts this file in ~/.ansible/test/cache, where ansible-test looks
before downloading."""
import ensurepip
import os
import subprocess
import sys

wheels = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wheels")
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
ensurepip.bootstrap(upgrade=False, default_pip=True)
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels, *args]))
