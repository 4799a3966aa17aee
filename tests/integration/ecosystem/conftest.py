"""The collection as its users meet it: the built tarball installed into a fresh collections path and run
from there (no checkout, no ansible.cfg of ours), molecule, ansible-builder, ansible-runner, galaxy-importer,
antsibull-changelog and antsibull-docs.

- `collection_tarball` (session): `ansible-galaxy collection build` of this checkout, as it is.
- `installed_collection` (session): the tarball installed into a fresh collections path; returns that path.
- `user_project`: a user's project directory with their inventory of the local cluster.
- `sandbox`, `saas_sandbox`: the OpenAPI-validating SaaS sandbox (tests/integration/conftest.py).
Helpers (`run`, `user_env`) are in helpers.py.
"""
from __future__ import annotations

import shutil

import pytest

from tests.integration.ecosystem.helpers import BIN, REPO, TARBALL, run, user_env


@pytest.fixture(scope="session")
def collection_tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("artifact")
    proc = run([BIN / "ansible-galaxy", "collection", "build", "--output-path", out])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / TARBALL


@pytest.fixture(scope="session")
def installed_collection(collection_tarball, tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    collections = root / "collections"
    proc = run([BIN / "ansible-galaxy", "collection", "install", "-p", collections, collection_tarball],
               cwd=root, env=user_env(collections, root / "home"))
    assert proc.returncode == 0 and "installed successfully" in proc.stdout, proc.stdout + proc.stderr
    return collections


@pytest.fixture
def user_project(tmp_path):
    """A user's project: their inventory of the local cluster (a copy of the checkout's inventories/local)."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "inventories" / "local", project / "inventory")
    return project
