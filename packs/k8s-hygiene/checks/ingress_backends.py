#!/usr/bin/env python3
"""Ingress rules whose backend Service does not exist or does not expose the rule's port.

Input: the parameters as JSON on stdin ({"namespace": "..."} or {}). Output: one JSON result on
stdout. The Kubernetes API is reached through the Runner's read-only proxy named by the kubeconfig
the sandbox provides (KUBECONFIG); nothing else is reachable. Standard library only.
"""
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request


def api_server():
    """The server of the kubeconfig's first cluster (JSON, as the sandbox writes it, or simple YAML)."""
    with open(os.environ["KUBECONFIG"], encoding="utf-8") as f:
        text = f.read()
    try:
        return json.loads(text)["clusters"][0]["cluster"]["server"].rstrip("/")
    except ValueError:
        match = re.search(r"server:\s*['\"]?([^'\"\s]+)", text)
        if not match:
            raise SystemExit("the kubeconfig names no server")
        return match.group(1).rstrip("/")


def list_all(server, path):
    """Every item of a list, page by page."""
    items, cont = [], None
    while True:
        query = {"limit": "500"}
        if cont:
            query["continue"] = cont
        try:
            with urllib.request.urlopen(f"{server}{path}?{urllib.parse.urlencode(query)}", timeout=30) as r:
                page = json.load(r)
        except urllib.error.HTTPError as e:
            # The status says it all (403: the policy does not grant the read); stderr stays on the Runner.
            raise SystemExit(f"GET {path} answered {e.code}") from None
        items.extend(page.get("items") or [])
        cont = (page.get("metadata") or {}).get("continue")
        if not cont:
            return items


def backends(ingress):
    """(service, port) of the default backend and of every rule path."""
    spec = ingress.get("spec") or {}
    found = []
    default = (spec.get("defaultBackend") or {}).get("service")
    if default:
        found.append(default)
    for rule in spec.get("rules") or []:
        for p in ((rule.get("http") or {}).get("paths")) or []:
            service = (p.get("backend") or {}).get("service")
            if service:
                found.append(service)
    return found


def main():
    params = json.load(sys.stdin)
    server = api_server()
    ns = params.get("namespace")
    scope = f"/namespaces/{ns}" if ns else ""
    services = {
        (s["metadata"]["namespace"], s["metadata"]["name"]): s.get("spec") or {}
        for s in list_all(server, f"/api/v1{scope}/services")
    }
    ingresses = list_all(server, f"/apis/networking.k8s.io/v1{scope}/ingresses")
    issues = []
    for ing in ingresses:
        meta = ing["metadata"]
        for backend in backends(ing):
            name = backend.get("name", "")
            port = backend.get("port") or {}
            wanted = port.get("number", port.get("name"))
            resource = {"kind": "Ingress", "namespace": meta["namespace"], "name": meta["name"]}
            svc = services.get((meta["namespace"], name))
            if svc is None:
                issues.append({
                    "severity": 2,
                    "title": f"Ingress {meta['name']} routes to Service {name}, which does not exist",
                    "resource": resource,
                    "expected": f"Service {meta['namespace']}/{name} exists",
                    "actual": "missing: requests on this rule get 503",
                    "nextSteps": [f"Create Service {name} or point the rule at an existing Service",
                                  f"kubectl -n {meta['namespace']} get ingress {meta['name']} -o yaml"],
                })
                continue
            ports = svc.get("ports") or []
            if wanted is not None and not any(p.get("port") == wanted or p.get("name") == wanted for p in ports):
                exposed = ", ".join(str(p.get("name") or p.get("port")) for p in ports) or "none"
                issues.append({
                    "severity": 2,
                    "title": f"Ingress {meta['name']} routes to port {wanted} of Service {name}, which it does not expose",
                    "resource": resource,
                    "expected": f"Service {name} exposes port {wanted}",
                    "actual": f"it exposes {exposed}",
                    "nextSteps": [f"Use one of the Service's ports ({exposed}) in the Ingress rule, or add the port to the Service"],
                })
    summary = (
        f"{len(issues)} Ingress backend(s) of {len(ingresses)} Ingress(es) point at no Service port"
        if issues else f"Every backend of {len(ingresses)} Ingress(es) has its Service and port"
    )
    json.dump({
        "summary": summary,
        "issues": issues[:200],
        "metrics": {"ingresses.read": len(ingresses), "services.read": len(services), "backends.broken": len(issues)},
    }, sys.stdout)


main()
