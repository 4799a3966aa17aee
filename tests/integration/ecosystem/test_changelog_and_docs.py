"""The changelog (antsibull-changelog) and the docs (antsibull-docs): fragments and changelog.yaml lint clean,
CHANGELOG.md is what they generate, the plugin and role docs lint clean, and the docs site builds."""
from __future__ import annotations

import shutil

from tests.integration.ecosystem.helpers import BIN, REPO, run, user_env


def test_changelog_fragments_lint_and_changelog_is_generated_from_them(tmp_path):
    fragments = sorted((REPO / "changelogs" / "fragments").glob("*.yml"))
    assert fragments
    proc = run([BIN / "antsibull-changelog", "lint", "-v", *fragments])
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    proc = run([BIN / "antsibull-changelog", "lint-changelog-yaml", REPO / "changelogs" / "changelog.yaml"])
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr

    # CHANGELOG.md is the generated one: regenerating it in a copy changes nothing.
    copy = tmp_path / "collection"
    copy.mkdir()
    for name in ("galaxy.yml", "CHANGELOG.md"):
        shutil.copy2(REPO / name, copy / name)
    shutil.copytree(REPO / "changelogs", copy / "changelogs", ignore=shutil.ignore_patterns(".plugin-cache.yaml"))
    proc = run([BIN / "antsibull-changelog", "generate"], cwd=copy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (copy / "CHANGELOG.md").read_text() == (REPO / "CHANGELOG.md").read_text(), \
        "CHANGELOG.md is stale: run `antsibull-changelog generate`"
    # The release lists the collection's plugins and modules.
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert "mataresit\\.emergency\\.oncall" in changelog and "mataresit\\.emergency\\.triage" in changelog


def test_plugin_and_role_docs_lint_clean(installed_collection, tmp_path):
    root = installed_collection / "ansible_collections" / "mataresit" / "emergency"
    proc = run([BIN / "antsibull-docs", "lint-collection-docs", "--plugin-docs", root], cwd=root,
               env=user_env(installed_collection, tmp_path / "home"))
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_docs_site_documents_modules_roles_and_callbacks(tmp_path):
    proc = run(["bash", REPO / "tools" / "build_docs.sh", tmp_path / "docs"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = tmp_path / "docs" / "build" / "html"
    pages = {p.name for p in html.glob("*.html")}
    modules = {f"{p.stem}_module.html" for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__"}
    roles = {f"{p.parent.parent.name}_role.html" for p in (REPO / "roles").glob("*/meta/argument_specs.yml")}
    callbacks = {f"{p.stem}_callback.html" for p in (REPO / "plugins" / "callback").glob("*.py") if p.stem != "__init__"}
    assert modules and roles and callbacks and "index.html" in pages
    assert modules | roles | callbacks <= pages, sorted(modules | roles | callbacks - pages)
    # A role page carries its options (from argument_specs), a callback page its description.
    assert "p0_outage_escalation" in (html / "p0_outage_role.html").read_text()
    assert "on-call engineer" in (html / "oncall_callback.html").read_text()
