"""galaxy-importer, as Galaxy and Automation Hub run it on an upload, on the built tarball: no error, no warning
(names, MANIFEST and FILES.json, docs through ansible-doc, ansible-lint as it runs it, the changelog)."""
from __future__ import annotations

import fcntl
import os

from tests.integration.ecosystem.helpers import REPO, run

VENV = REPO / ".venv-importer"
PINS = REPO / "tests" / "integration" / "ecosystem" / "requirements-galaxy-importer.txt"


def importer_python():
    """.venv-importer with the pinned galaxy-importer (its pins clash with the project's), made once."""
    stamp = VENV / ".installed"
    with open(REPO / ".venv-importer.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists() or stamp.read_text() != PINS.read_text():
            for cmd in (["python3", "-m", "venv", "--clear", VENV],
                        [VENV / "bin" / "pip", "install", "-q", "--disable-pip-version-check", "-r", PINS]):
                proc = run(cmd, timeout=900)
                assert proc.returncode == 0, proc.stdout + proc.stderr
            stamp.write_text(PINS.read_text())
    return VENV / "bin" / "python"


def test_galaxy_importer_accepts_the_artifact_without_a_warning(collection_tarball, tmp_path):
    python = importer_python()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTHONPATH"}
    env.update(PATH=f"{python.parent}:{env['PATH']}", HOME=str(tmp_path), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    proc = run([python, "-m", "galaxy_importer.main", collection_tarball], cwd=tmp_path, env=env, timeout=900)
    output = proc.stdout + proc.stderr
    (tmp_path / "galaxy-importer.log").write_text(output)
    print(output)
    assert proc.returncode == 0, output
    assert "Importer processing completed successfully" in output
    assert "ansible-lint run complete" in output and "Getting doc strings via ansible-doc" in output
    problems = [line for line in output.splitlines() if line.startswith(("WARNING", "ERROR", "CRITICAL"))]
    assert not problems, "\n".join(problems)
    # It read every plugin and role it found.
    loaded = {tuple(line.split()[1:3]) for line in output.splitlines() if line.startswith("Loading ")}
    assert ("callback", "oncall") in loaded and ("role", "p0_outage") in loaded and ("module", "triage") in loaded
