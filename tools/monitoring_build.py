"""Build Prometheus (with promtool) and Alertmanager with Go from the Go module proxy.

Pinned releases, cached per version beside the control plane in the same cache
(k8s_build.cache_root()), under the same build lock, so only the first run pays.

- Prometheus is built with the build tags `remove_all_sd enable_kubernetes_sd`:
  the reference configuration only uses kubernetes_sd_configs and static
  configs, and leaving the other service discoveries out more than halves the
  build.
- Alertmanager embeds its web UI (`ui/web.go`: `//go:embed app/dist`), which the
  module on the proxy does not contain (upstream builds it with npm). It is
  built from a writable copy of the module with placeholder pages; the API and
  the notification pipeline do not use them.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tools import k8s_build

PROMETHEUS_MODULE = "github.com/prometheus/prometheus"
PROMETHEUS_VERSION = "v0.316.0"  # Prometheus 3.16.0
PROMETHEUS_TAGS = "remove_all_sd,enable_kubernetes_sd"
ALERTMANAGER_MODULE = "github.com/prometheus/alertmanager"
ALERTMANAGER_VERSION = "v0.35.0"
UI_PLACEHOLDERS = ("ui/app/dist/elm/index.html", "ui/app/dist/mantine/index.html")


def prometheus_dir() -> Path:
    return k8s_build.cache_root() / "bin" / f"prometheus-{PROMETHEUS_VERSION}"


def alertmanager_dir() -> Path:
    return k8s_build.cache_root() / "bin" / f"alertmanager-{ALERTMANAGER_VERSION}"


def binaries() -> dict:
    return {"prometheus": prometheus_dir() / "prometheus", "promtool": prometheus_dir() / "promtool",
            "alertmanager": alertmanager_dir() / "alertmanager"}


def _version_ldflags(release: str) -> str:
    pkg = "github.com/prometheus/common/version"
    return f"-s -w -X {pkg}.Version={release} -X {pkg}.Branch=release -X {pkg}.BuildUser=mataresit-emergency"


def _module_dir(module: str, version: str, work: Path) -> Path:
    """Download the module through the proxy (go's own cache); return its read-only directory."""
    work.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], cwd=work,
                          capture_output=True, text=True)
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or not info.get("Dir"):
        raise SystemExit(f"Failed to download {module}@{version}: {info.get('Error') or proc.stderr.strip()[-2000:]}")
    return Path(info["Dir"])


def _build_prometheus(work: Path) -> None:
    out = prometheus_dir()
    staging = work / "out"
    staging.mkdir(parents=True, exist_ok=True)
    release = (_module_dir(PROMETHEUS_MODULE, PROMETHEUS_VERSION, work) / "VERSION").read_text().strip()
    k8s_build.go_run(
        ["go", "install", "-trimpath", f"-tags={PROMETHEUS_TAGS}", f"-ldflags={_version_ldflags(release)}",
         f"{PROMETHEUS_MODULE}/cmd/prometheus@{PROMETHEUS_VERSION}",
         f"{PROMETHEUS_MODULE}/cmd/promtool@{PROMETHEUS_VERSION}"],
        work, f"prometheus + promtool {PROMETHEUS_VERSION}", GOBIN=str(staging), GOFLAGS="")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("prometheus", "promtool"):
        shutil.move(str(staging / name), str(out / name))


def _build_alertmanager(work: Path) -> None:
    src = work / "src"
    if not (src / "go.mod").exists():
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(_module_dir(ALERTMANAGER_MODULE, ALERTMANAGER_VERSION, work), src)
        for path in [src, *src.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)  # the module cache is read-only
        for placeholder in UI_PLACEHOLDERS:
            page = src / placeholder
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text("<!doctype html><title>Alertmanager</title><p>UI not built (API only).</p>\n")
    staging = work / "out"
    staging.mkdir(parents=True, exist_ok=True)
    release = (src / "VERSION").read_text().strip()
    k8s_build.go_run(["go", "build", "-trimpath", f"-ldflags={_version_ldflags(release)}",
                      "-o", str(staging / "alertmanager"), "./cmd/alertmanager"],
                     src, f"alertmanager {ALERTMANAGER_VERSION}")
    alertmanager_dir().mkdir(parents=True, exist_ok=True)
    shutil.move(str(staging / "alertmanager"), str(alertmanager_dir() / "alertmanager"))


def build() -> dict:
    """Build what is missing from the cache; return {name: path} of prometheus, promtool, alertmanager."""
    bins = binaries()
    if all(p.exists() for p in bins.values()):
        return bins
    k8s_build.require_go("Prometheus and Alertmanager")
    with k8s_build.build_lock():
        work = k8s_build.cache_root() / "build"
        if not (bins["prometheus"].exists() and bins["promtool"].exists()):
            k8s_build.log(f"building Prometheus {PROMETHEUS_VERSION} (tags {PROMETHEUS_TAGS}) and promtool into "
                          f"{prometheus_dir()} (first run only; about 4 minutes on 2 cores)")
            _build_prometheus(work / prometheus_dir().name)
        if not bins["alertmanager"].exists():
            k8s_build.log(f"building Alertmanager {ALERTMANAGER_VERSION} into {alertmanager_dir()} (first run only)")
            _build_alertmanager(work / alertmanager_dir().name)
    return bins


if __name__ == "__main__":
    print(json.dumps({k: str(v) for k, v in build().items()}, indent=2))
