{{/* Labels of every object: its component, the product, and (releaseLabels) Helm's own. */}}
{{- define "xtrinode.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: xtrinode-gateway
{{- if .root.Values.releaseLabels }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}
{{- end }}

{{- define "xtrinode.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "xtrinode.controllerNamespace" -}}
{{ .Values.controller.namespace | default .Release.Namespace }}
{{- end }}

{{/* Scheduling fields of a pod spec, from a component's values. */}}
{{- define "xtrinode.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector: {{ toJson . }}
{{- end }}
{{- with .tolerations }}
tolerations: {{ toJson . }}
{{- end }}
{{- with .affinity }}
affinity: {{ toJson . }}
{{- end }}
{{- end }}

{{/* extraEnv (name: value) as container env entries. */}}
{{- define "xtrinode.extraEnv" -}}
{{- range $k, $v := . }}
- {name: {{ $k }}, value: {{ $v | toString | quote }}}
{{- end }}
{{- end }}

{{/* metadata in flow style: (dict "root" $ "name" NAME "component" COMPONENT ["namespace" NS] ["annotations" MAP]). */}}
{{- define "xtrinode.meta" -}}
{name: {{ .name }}{{ with .namespace }}, namespace: {{ . }}{{ end }}, labels: {{ include "xtrinode.labels" (dict "root" .root "name" .component) | fromYaml | toJson }}{{ with .annotations }}, annotations: {{ toJson . }}{{ end }}}
{{- end }}

{{/* Egress rules both components need: DNS, the API server, the coordinators' ports. */}}
{{- define "xtrinode.commonEgress" -}}
# DNS: coordinator Service names (kube-dns or a node-local cache; any address).
- ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
# The Kubernetes API server.
- to: [{{- range $i, $c := .Values.networkPolicy.apiServer.cidrs }}{{ if $i }}, {{ end }}{ipBlock: {cidr: {{ $c }}}}{{ end }}]
  ports: [{{- range $i, $p := .Values.networkPolicy.apiServer.ports }}{{ if $i }}, {{ end }}{port: {{ $p }}, protocol: TCP}{{ end }}]
# Trino coordinators, in any namespace.
- to: [{namespaceSelector: {}}]
  ports: [{{- range $i, $p := .Values.networkPolicy.coordinatorPorts }}{{ if $i }}, {{ end }}{port: {{ $p }}, protocol: TCP}{{ end }}]
{{- end }}
