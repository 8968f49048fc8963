#!/usr/bin/env bash
# Pods that reference ConfigMaps that do not exist: volumes, envFrom and env valueFrom.
# Input: the parameters as JSON on stdin ({"namespace": "..."} or {}).
# Output: one JSON result on stdout. kubectl reaches the API through the Runner's read-only proxy
# (KUBECONFIG is set by the sandbox); nothing else is reachable.
set -euo pipefail

params=$(cat)
# The parameters are validated against the schema before the script runs: a namespace is a DNS label.
namespace=$(printf '%s' "$params" | sed -n 's/.*"namespace":"\([a-z0-9-]*\)".*/\1/p')
if [[ -n "$namespace" ]]; then scope=(-n "$namespace"); else scope=(-A); fi

# Every existing ConfigMap as namespace/name.
declare -A existing=()
while read -r ref; do
  [[ -n "$ref" ]] && existing["$ref"]=1
done < <(kubectl get configmaps "${scope[@]}" -o go-template='{{range .items}}{{.metadata.namespace}}/{{.metadata.name}}{{"\n"}}{{end}}')

# Every reference as "namespace pod configmap how"; optional references are skipped.
template='{{range .items}}{{$ns := .metadata.namespace}}{{$pod := .metadata.name}}'
template+='{{range .spec.volumes}}{{if .configMap}}{{if not .configMap.optional}}{{$ns}} {{$pod}} {{.configMap.name}} volume{{"\n"}}{{end}}{{end}}{{end}}'
template+='{{range .spec.containers}}{{range .envFrom}}{{if .configMapRef}}{{if not .configMapRef.optional}}{{$ns}} {{$pod}} {{.configMapRef.name}} envFrom{{"\n"}}{{end}}{{end}}{{end}}'
template+='{{range .env}}{{if .valueFrom}}{{if .valueFrom.configMapKeyRef}}{{if not .valueFrom.configMapKeyRef.optional}}{{$ns}} {{$pod}} {{.valueFrom.configMapKeyRef.name}} env{{"\n"}}{{end}}{{end}}{{end}}{{end}}{{end}}'
template+='{{end}}'

pods=0
issues=()
declare -A seen=()
while read -r ns pod cm how; do
  [[ -z "${ns:-}" ]] && continue
  if [[ -z "${existing["$ns/$cm"]:-}" && -z "${seen["$ns/$pod/$cm"]:-}" ]]; then
    seen["$ns/$pod/$cm"]=1
    # Kubernetes names are DNS labels and subdomains: no character needs escaping in JSON.
    issues+=("{\"severity\":2,\"title\":\"Pod $pod references ConfigMap $cm, which does not exist\",\"resource\":{\"kind\":\"Pod\",\"namespace\":\"$ns\",\"name\":\"$pod\"},\"expected\":\"ConfigMap $ns/$cm exists\",\"actual\":\"missing (referenced by $how)\",\"nextSteps\":[\"Create ConfigMap $cm in $ns, or fix the reference in the pod's owner\",\"kubectl -n $ns describe pod $pod\"]}")
  fi
done < <(kubectl get pods "${scope[@]}" -o go-template="$template")
pods=$(kubectl get pods "${scope[@]}" -o go-template='{{len .items}}')

count=${#issues[@]}
joined=$(IFS=,; printf '%s' "${issues[*]:-}")
if (( count > 0 )); then
  summary="$count ConfigMap reference(s) of $pods pod(s) point at nothing"
else
  summary="Every ConfigMap that $pods pod(s) reference exists"
fi
printf '{"summary":"%s","issues":[%s],"metrics":{"pods.read":%d,"configmaps.read":%d,"references.missing":%d}}\n' \
  "$summary" "$joined" "$pods" "${#existing[@]}" "$count"
