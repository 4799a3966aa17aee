"""Names are checked (DNS-1123, never empty) before they become part of a request path (issue 7)."""
from __future__ import annotations

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources


@pytest.mark.parametrize("namespace, name, option", [
    ("", "app", "namespace"),             # was: the Deployment list of every namespace
    ("ns", "", "name"),                   # was: a PATCH of the Deployment list
    ("Prod", "app", "namespace"),         # upper case
    ("ns", "App_1", "name"),
    ("ns", "app\n", "name"),              # a trailing newline must not pass a $-anchored pattern
    ("a" * 64, "app", "namespace"),       # a namespace is a DNS-1123 label: at most 63
    ("ns", "a" * 254, "name"),
    ("ns", "a/b", "name"),
    ("ns", "..", "name"),
    ("-ns", "app", "namespace"),
    (None, "app", None),                  # None: the all-namespaces collection is never asked for by accident
])
def test_paths_are_built_only_from_valid_names(namespace, name, option):
    if option is None:
        assert resources.path("Deployment", namespace) == "/apis/apps/v1/deployments"
        return
    with pytest.raises(ConfigError, match=f"{option} .* is not a valid Kubernetes name .*check '{option}'"):
        resources.path("Deployment", namespace, name)


def test_the_name_of_a_namespace_is_checked_as_a_namespace():
    with pytest.raises(ConfigError, match="namespace '' is not a valid Kubernetes name .*check 'namespace'"):
        resources.path("Namespace", None, "")


def test_valid_names_pass():
    assert resources.path("Deployment", "paperless-maverick", "api.v2-1") == \
        "/apis/apps/v1/namespaces/paperless-maverick/deployments/api.v2-1"
    assert resources.path("ClusterRole", None, "system:node") == "/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Anode"
    assert resources.service_proxy_path("ns", "svc", 80, "/health") == "/api/v1/namespaces/ns/services/svc:80/proxy/health"


@pytest.mark.parametrize("call", [lambda: resources.service_proxy_path("", "svc", 80),
                                  lambda: resources.service_proxy_path("ns", "svc.x", 80),
                                  lambda: resources.pod_proxy_path("ns", "", 80)])
def test_proxy_paths_check_their_names(call):
    with pytest.raises(ConfigError, match="is not a valid Kubernetes name"):
        call()
