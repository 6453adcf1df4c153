{{/*
Expand the name of the chart.
*/}}
{{- define "ratify.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified app name, as Ratify's chart computes it: the Service,
the Deployment and RATIFY_NAME. The Providers call
https://<fullname>.<namespace>:6001, so it must not change between charts.
*/}}
{{- define "ratify.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ratify.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ratify.labels" -}}
helm.sh/chart: {{ include "ratify.chart" . }}
{{ include "ratify.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ratify.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ratify.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The service account: created when serviceAccount.create or a workload
identity is given (its federated credential names the account), as in
Ratify's chart.
*/}}
{{- define "ratify.serviceAccountCreated" -}}
{{- if or .Values.azureWorkloadIdentity.clientId .Values.serviceAccount.create }}true{{ end }}
{{- end }}

{{- define "ratify.serviceAccountName" -}}
{{- if include "ratify.serviceAccountCreated" . }}
{{- default (include "ratify.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ratify.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
Gatekeeper API versions, chosen by gatekeeper.version as Ratify's chart does.
*/}}
{{- define "ratify.assignGKVersion" -}}
{{- if semverCompare ">= 3.11.0" (toString .Values.gatekeeper.version) }}
apiVersion: mutations.gatekeeper.sh/v1
{{- else }}
apiVersion: mutations.gatekeeper.sh/v1beta1
{{- end }}
{{- end }}

{{- define "ratify.providerGKVersion" -}}
{{- if semverCompare ">= 3.11.0" (toString .Values.gatekeeper.version) }}
apiVersion: externaldata.gatekeeper.sh/v1beta1
{{- else }}
apiVersion: externaldata.gatekeeper.sh/v1alpha1
{{- end }}
{{- end }}

{{/*
Ratify's chart makes its default resources hooks, created before the
Deployment and replaced from the values on every upgrade; the same names
and the same annotations keep that behaviour.
*/}}
{{- define "ratify.hookAnnotations" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: "5"
{{- end }}

{{- define "ratify.tlsSecretName" -}}
{{- printf "%s-tls" (include "ratify.fullname" .) -}}
{{- end -}}

{{/*
ratify.tlsMaterial decides ratify's serving certificate, as YAML:
  secret: whether the chart writes Secret <fullname>-tls
  data:   that Secret's data (base64 values)
  caBundle: what Gatekeeper's Providers trust (base64 PEM)
Include it once per template: generating is random, and the Secret and the
Providers must agree (they are in one template for that reason).
  1. provider.tls.crt and key given: those, with cabundle or caCert.
  2. RATIFY_CERT_ROTATION: ratify writes the Secret and the caBundle; the
     chart creates the Secret empty if it does not exist (the Deployment
     mounts it) and trusts its current CA, or a placeholder CA that ratify
     replaces when it starts.
  3. A Secret from an earlier release: kept, so an upgrade does not change
     the certificate under running pods.
  4. Otherwise a new CA and a certificate for the Service's names.
*/}}
{{- define "ratify.tlsMaterial" -}}
{{- $fullname := include "ratify.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $t := .Values.provider.tls -}}
{{- $existing := (lookup "v1" "Secret" $ns (include "ratify.tlsSecretName" .)) | default dict -}}
{{- $have := $existing.data | default dict -}}
{{- $out := dict "secret" true "data" dict "caBundle" "" -}}
{{- if and $t.crt $t.key -}}
  {{- if not (or $t.cabundle $t.caCert) -}}
    {{- fail "provider.tls.crt and provider.tls.key need provider.tls.cabundle (base64 PEM) or provider.tls.caCert (PEM): the CA Gatekeeper trusts" -}}
  {{- end -}}
  {{- $caPEM := $t.caCert | default ($t.cabundle | b64dec) -}}
  {{- $data := dict "tls.crt" ($t.crt | b64enc) "tls.key" ($t.key | b64enc) "ca.crt" ($caPEM | b64enc) -}}
  {{- if $t.caKey }}{{ $_ := set $data "ca.key" ($t.caKey | b64enc) }}{{ end -}}
  {{- $_ := set $out "data" $data -}}
  {{- $_ := set $out "caBundle" ($t.cabundle | default ($t.caCert | b64enc) | replace "\n" "") -}}
{{- else if .Values.featureFlags.RATIFY_CERT_ROTATION -}}
  {{- $_ := set $out "secret" (not $existing) -}}
  {{- if index $have "ca.crt" -}}
    {{- $_ := set $out "caBundle" (index $have "ca.crt") -}}
  {{- else -}}
    {{- $placeholder := genCA "ratify placeholder CA (replaced by cert rotation)" 1 -}}
    {{- $_ := set $out "caBundle" ($placeholder.Cert | b64enc) -}}
  {{- end -}}
{{- else if and (index $have "tls.crt") (index $have "tls.key") (index $have "ca.crt") -}}
  {{- $_ := set $out "data" (dict "tls.crt" (index $have "tls.crt") "tls.key" (index $have "tls.key") "ca.crt" (index $have "ca.crt")) -}}
  {{- $_ := set $out "caBundle" (index $have "ca.crt") -}}
{{- else -}}
  {{- $ca := genCA "ratify-ca" 3650 -}}
  {{- $dns := list $fullname (printf "%s.%s" $fullname $ns) (printf "%s.%s.svc" $fullname $ns) (printf "%s.%s.svc.cluster.local" $fullname $ns) -}}
  {{- $cert := genSignedCert (printf "%s.%s" $fullname $ns) nil $dns 3650 $ca -}}
  {{- $_ := set $out "data" (dict "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) "ca.crt" ($ca.Cert | b64enc)) -}}
  {{- $_ := set $out "caBundle" ($ca.Cert | b64enc) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
Namespaces the tag-to-digest Assigns leave alone: Gatekeeper's, the
system's and ratify's own (ratify's pods must start while ratify is down),
then provider.mutationExcludedNamespaces.
*/}}
{{- define "ratify.assignExcludedNamespaces" -}}
{{- $gk := default "gatekeeper-system" .Values.gatekeeper.namespace -}}
{{- $all := concat (list $gk "kube-system" .Release.Namespace) (.Values.provider.mutationExcludedNamespaces | default list) | uniq -}}
{{- toJson $all -}}
{{- end }}

{{/*
Key management providers of the cosign verifier, by name: the inline keys
(cosignKeys, the deprecated cosign.key) and Key Vault's keys.
*/}}
{{- define "ratify.cosignKeyProviders" -}}
{{- $fullname := include "ratify.fullname" . -}}
{{- $names := list -}}
{{- range $i, $key := .Values.cosignKeys }}
{{- $names = append $names (printf "%s-cosign-inline-key-%d" $fullname $i) -}}
{{- end }}
{{- if .Values.cosign.key }}
{{- $names = append $names (printf "%s-cosign-inline-key" $fullname) -}}
{{- end }}
{{- if and .Values.azurekeyvault.enabled .Values.azurekeyvault.keys }}
{{- $names = append $names "kmprovider-akv" -}}
{{- end }}
{{- toJson $names -}}
{{- end }}

{{- define "ratify.cosignKeyless" -}}
{{- with .Values.cosign.keyless }}
{{- if or .certificateIdentity .certificateIdentityRegExp .certificateOIDCIssuer .certificateOIDCIssuerRegExp }}true{{ end }}
{{- end }}
{{- end }}

{{- define "ratify.akvEnabled" -}}
{{- if or .Values.azurekeyvault.enabled .Values.akvCertConfig.enabled }}true{{ end }}
{{- end }}

{{/*
Metadata of the CRD upgrade Job's hooks (upgrade-crds-hook.yaml).
*/}}
{{- define "ratify.crdHookMeta" -}}
labels:
  {{- include "ratify.labels" . | nindent 2 }}
annotations:
  helm.sh/hook: pre-install,pre-upgrade
  helm.sh/hook-delete-policy: "hook-succeeded,before-hook-creation"
  helm.sh/hook-weight: "1"
{{- end }}
