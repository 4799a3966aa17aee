"""Build the local control plane's binaries with Go from the Go module proxy.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler (one pinned
Kubernetes release) and kwok are compiled once and cached per version outside
the checkout, so only the first run pays for the build.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.8"
KWOK_VERSION = "v0.8.0"
GO_PROXY = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0]

K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
KUBECTL = "kubectl"


def cache_root() -> Path:
    return Path(os.environ.get("MRE_CACHE", Path.home() / ".cache" / "mataresit-emergency"))


def bin_dir() -> Path:
    return cache_root() / "bin" / f"k8s-{KUBERNETES_VERSION}_etcd-{ETCD_VERSION}_kwok-{KWOK_VERSION}"


def binary(name: str) -> Path:
    return bin_dir() / name


def log(msg: str) -> None:
    print(f"[build {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def require_go(what: str) -> None:
    if shutil.which("go") is None:
        raise SystemExit(f"Failed to build {what}: Go is not installed (need go >= 1.26 on PATH).")


@contextlib.contextmanager
def build_lock():
    """One build at a time per cache (2 cores gain nothing from two); the others wait, then find the binaries."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _staging_modules() -> list[str]:
    """The k8s.io staging modules that k8s.io/kubernetes replaces with ./staging paths."""
    url = f"{GO_PROXY}/k8s.io/kubernetes/@v/{KUBERNETES_VERSION}.mod"
    with urllib.request.urlopen(url, timeout=60) as resp:
        text = resp.read().decode()
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+) => \./staging/", text, re.M)))


def _write_build_module(workdir: Path) -> None:
    staging_release = "v0." + KUBERNETES_VERSION[len("v1."):]
    replaces = "\n".join(f"\t{m} => {m} {staging_release}" for m in _staging_modules())
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "go.mod").write_text(
        "module mataresit.local/controlplane\n\ngo 1.26.0\n\n"
        f"require (\n\tk8s.io/kubernetes {KUBERNETES_VERSION}\n"
        f"\tgo.etcd.io/etcd/server/v3 {ETCD_VERSION}\n)\n\nreplace (\n{replaces}\n)\n"
    )
    (workdir / "tools.go").write_text(
        "//go:build tools\n\npackage tools\n\nimport (\n"
        + "".join(f'\t_ "k8s.io/kubernetes/cmd/{c}"\n' for c in K8S_COMMANDS + (KUBECTL,))
        + '\t_ "go.etcd.io/etcd/server/v3"\n)\n'
    )


def go_run(cmd: list[str], cwd: Path, what: str, **env_overrides: str) -> None:
    """Run a go command with a progress line every minute; fail with the end of its output."""
    started = time.monotonic()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(60):
            log(f"{what}: still building ({time.monotonic() - started:.0f}s)")

    threading.Thread(target=heartbeat, daemon=True).start()
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", **env_overrides}
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    finally:
        done.set()
    if proc.returncode != 0:
        raise SystemExit(f"Failed to build {what}: {proc.stderr.strip()[-3000:]}")
    log(f"{what}: done in {time.monotonic() - started:.0f}s")


def build(with_kubectl: bool = False) -> Path:
    """Build what is missing from the cache; return the binary directory."""
    require_go("the control plane")
    out = bin_dir()
    wanted = ["etcd", "kwok", *K8S_COMMANDS] + ([KUBECTL] if with_kubectl else [])
    if all((out / n).exists() for n in wanted):
        return out
    with build_lock():
        return _build(out, wanted)


def _build(out: Path, wanted: list) -> Path:
    missing = [n for n in wanted if not (out / n).exists()]
    if not missing:
        return out
    log(f"building {', '.join(missing)} into {out} (first run only; about 10 minutes on 2 cores)")
    work = cache_root() / "build" / out.name
    tmp_out = work / "out"
    tmp_out.mkdir(parents=True, exist_ok=True)
    ldflags = "-s -w " + " ".join(
        f"-X {pkg}.gitVersion={KUBERNETES_VERSION} -X {pkg}.gitMajor=1 "
        f"-X {pkg}.gitMinor={KUBERNETES_VERSION.split('.')[1]} -X {pkg}.gitTreeState=clean"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    )
    k8s_main = work / "k8s"
    if not (k8s_main / "go.sum").exists():
        _write_build_module(k8s_main)
        go_run(["go", "mod", "tidy"], k8s_main, "module download (k8s.io/kubernetes, etcd)")
    for name in missing:
        if name == "kwok":
            kwok_main = work / "kwok"
            kwok_main.mkdir(parents=True, exist_ok=True)
            go_run(["go", "install", "-trimpath", "-ldflags=-s -w", f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}"],
                   kwok_main, "kwok", GOBIN=str(tmp_out), GOFLAGS="")
            continue
        pkg = "go.etcd.io/etcd/server/v3" if name == "etcd" else f"k8s.io/kubernetes/cmd/{name}"
        go_run(["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(tmp_out / name), pkg], k8s_main, name)
    out.mkdir(parents=True, exist_ok=True)
    for name in missing:
        shutil.move(str(tmp_out / name), str(out / name))
    return out


if __name__ == "__main__":
    print(build(with_kubectl="--kubectl" in sys.argv))
