{{/* Labels every object carries (deploy/'s plus Helm's). */}}
{{- define "ferrolb.labels" -}}
app.kubernetes.io/part-of: ferrolb
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The pods' selector of a component. */}}
{{- define "ferrolb.selector" -}}
app.kubernetes.io/name: ferrolb
app.kubernetes.io/component: {{ . }}
{{- end -}}

{{/* An image reference: repository:tag, the tag defaulting to the appVersion. */}}
{{- define "ferrolb.image" -}}
{{ .image.repository }}:{{ .image.tag | default .root.Chart.AppVersion }}
{{- end -}}

{{/* The speaker's health port: the value, else by dataplane. */}}
{{- define "ferrolb.speakerHealthPort" -}}
{{- if .Values.speaker.ports.health -}}
{{ .Values.speaker.ports.health }}
{{- else if eq .Values.dataplane "nftables" -}}
10256
{{- else -}}
10266
{{- end -}}
{{- end -}}

{{/* Fails on a dataplane value the speaker does not take here. */}}
{{- define "ferrolb.dataplane" -}}
{{- if not (has .Values.dataplane (list "announce-only" "nftables")) -}}
{{- fail (printf "dataplane must be announce-only or nftables, not %q" .Values.dataplane) -}}
{{- end -}}
{{ .Values.dataplane }}
{{- end -}}
