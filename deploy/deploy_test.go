// Package deploy holds no code: its tests check the deployment kit, the plain
// manifests, the Helm values and the rules, against the real types and tools.
package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// strictDecode decodes YAML into out and fails on any field the type does
// not have: a typo in a manifest is a test failure, not an ignored field.
func strictDecode(y []byte, out any) error {
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	return dec.Decode(out)
}

// object is one document of a rendered manifest.
type object struct {
	Kind string
	Doc  []byte
}

// objects cuts a rendered manifest (kubectl kustomize's, the chart's) into
// its objects; empty documents are left out.
func objects(t *testing.T, manifest []byte) []object {
	t.Helper()
	var out []object
	for _, doc := range bytes.Split(manifest, []byte("\n---\n")) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Kind != "" {
			out = append(out, object{Kind: meta.Kind, Doc: doc})
		}
	}
	return out
}

// kustomize renders a kustomization with kubectl (on the machine image; CI
// has it).
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		testkit.Unavailable(t, "kubectl not found", "kubectl kustomize renders the kustomizations; install kubectl")
	}
	out, err := exec.Command(kubectl, "kustomize", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, out)
	}
	return out
}

var kustomizations = []string{"kubernetes", "kubernetes/overlays/remote-write", "kubernetes/overlays/unix-socket", "kubernetes/overlays/cross-check", "kubernetes/overlays/prometheus-operator"}

// Helm and the plain manifests roll out alike.
func TestHelmAndKustomizeRolloutAgree(t *testing.T) {
	values := readYAML(t, "helm/values.yaml")
	rollout, _ := values["rollout"].(map[string]any)
	ru, _ := rollout["rollingUpdate"].(map[string]any)
	var ds appsv1.DaemonSet
	b, err := os.ReadFile("kubernetes/base/daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	must(t, strictDecode(b, &ds), "daemonset.yaml")
	want := ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable.String()
	if rollout["strategy"] != string(ds.Spec.UpdateStrategy.Type) || fmt.Sprint(ru["maxUnavailable"]) != want {
		t.Errorf("Helm rollout %v, the DaemonSet's %s with maxUnavailable %s", rollout, ds.Spec.UpdateStrategy.Type, want)
	}
	if _, surge := ru["maxSurge"]; surge {
		t.Error("Helm rollout sets maxSurge, which host ports forbid for a DaemonSet")
	}
}

// The documented Helm path creates the namespace from namespace.yaml, with its
// Pod Security labels, before helm install, and never with
// --create-namespace, which would make one without them.
func TestReadmeNamespaceHasPodSecurityLabels(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	if strings.Contains(readme, "helm install") && strings.Contains(readme, "--create-namespace \\") {
		t.Error("deploy/README.md installs with --create-namespace: the namespace would lack its Pod Security labels")
	}
	apply, install := strings.Index(readme, "kubectl apply -f deploy/kubernetes/base/namespace.yaml"), strings.Index(readme, "helm install otelcol-chrony")
	if apply < 0 || install < 0 || apply > install {
		t.Error("deploy/README.md does not create the namespace from namespace.yaml before helm install")
	}
	// The chart has no admission policy: the Helm path applies the one the
	// plain manifests carry, or nothing refuses a privileged pod there.
	if policy := strings.Index(readme, "kubectl apply -f deploy/kubernetes/base/pod-policy.yaml"); policy < 0 || policy > install {
		t.Error("deploy/README.md does not apply pod-policy.yaml before helm install")
	}
	var ns corev1.Namespace
	b, err := os.ReadFile("kubernetes/base/namespace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	must(t, strictDecode(b, &ns), "namespace.yaml")
	for label, want := range map[string]string{"pod-security.kubernetes.io/enforce": "privileged", "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/audit": "restricted"} {
		if ns.Labels[label] != want {
			t.Errorf("namespace.yaml: %s = %q, want %q", label, ns.Labels[label], want)
		}
	}
}

// Every object `kubectl apply -k` would create decodes strictly into its
// k8s.io/api type, the DaemonSet holds the hardening invariants, and the
// collector configuration it mounts validates with the settings the
// DaemonSet passes it from the settings ConfigMap.
func TestKubernetesManifests(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			kinds := map[string]int{}
			var config []byte
			var settings []string
			var daemonSet *appsv1.DaemonSet
			var podMonitor []byte
			var namespace string
			var policy *admissionv1.ValidatingAdmissionPolicy
			var binding *admissionv1.ValidatingAdmissionPolicyBinding
			for _, obj := range objects(t, kustomize(t, dir)) {
				doc := obj.Doc
				kinds[obj.Kind]++
				switch obj.Kind {
				case "Namespace":
					var o corev1.Namespace
					must(t, strictDecode(doc, &o), obj.Kind)
					namespace = o.Name
				case "ServiceAccount":
					var o corev1.ServiceAccount
					must(t, strictDecode(doc, &o), obj.Kind)
					if o.AutomountServiceAccountToken == nil || *o.AutomountServiceAccountToken {
						t.Error("the service account mounts an API token the collector never uses")
					}
				case "ConfigMap":
					var o corev1.ConfigMap
					must(t, strictDecode(doc, &o), obj.Kind)
					if cfg, ok := o.Data["config.yaml"]; ok {
						config = []byte(cfg)
					}
					if strings.HasPrefix(o.Name, "otelcol-chrony-settings") {
						for k, v := range o.Data {
							settings = append(settings, k+"="+v)
						}
					}
				case "DaemonSet":
					var o appsv1.DaemonSet
					must(t, strictDecode(doc, &o), obj.Kind)
					checkHardening(t, dir, &o.Spec.Template.Spec)
					daemonSet = &o
					if len(o.Spec.Template.Spec.Tolerations) == 0 || o.Spec.Template.Spec.Tolerations[0].Operator != corev1.TolerationOpExists {
						t.Error("the DaemonSet does not tolerate every taint: tainted and system nodes would go unmonitored")
					}
				case "PodMonitor":
					podMonitor = doc
				case "ValidatingAdmissionPolicy":
					policy = &admissionv1.ValidatingAdmissionPolicy{}
					must(t, strictDecode(doc, policy), obj.Kind)
				case "ValidatingAdmissionPolicyBinding":
					binding = &admissionv1.ValidatingAdmissionPolicyBinding{}
					must(t, strictDecode(doc, binding), obj.Kind)
				default:
					t.Errorf("unexpected object kind %q", obj.Kind)
				}
			}
			if podMonitor != nil && daemonSet != nil {
				pm := decodePodMonitor(t, dir, podMonitor, "monitoring.coreos.com")
				checkPodMonitor(t, dir, pm, daemonSet.Spec.Template.Labels, daemonSet.Spec.Template.Spec.Containers[0])
			}
			if kinds["DaemonSet"] != 1 || kinds["ConfigMap"] != 2 || kinds["Namespace"] != 1 || kinds["ServiceAccount"] != 1 ||
				kinds["ValidatingAdmissionPolicy"] != 1 || kinds["ValidatingAdmissionPolicyBinding"] != 1 {
				t.Errorf("objects rendered: %v", kinds)
			}
			checkPodPolicyBinding(t, dir, policy, binding, namespace)
			if daemonSet == nil {
				t.Fatal("no DaemonSet rendered")
			}
			main := daemonSet.Spec.Template.Spec.Containers[0]
			validateConfig(t, dir, testbin.ForCommand(t, main.Command), config, settings...)
			checkPortsDeclared(t, dir, listeningPorts(t, config), main)
			checkProbes(t, dir, main)
		})
	}
}

// The cross-check overlay's settings reach the receiver as a list of servers
// (a string would not validate as host:port) and are checked: an interval
// below the minimum is refused, naming the setting.
func TestCrossCheckSettingsReachTheReceiver(t *testing.T) {
	base, err := os.ReadFile("kubernetes/base/otelcol-chrony.yaml")
	if err != nil {
		t.Fatal(err)
	}
	config := writeConfig(t, base)
	node := testbin.Node(t)
	servers := "CROSS_CHECK_SERVERS=[\"ntp1.internal.example:123\", \"[2001:db8::123]:123\"]"
	if out, err := testbin.ValidateWith(t, node, config, servers); err != nil {
		t.Errorf("two servers: %v\n%s", err, out)
	}
	out, err := testbin.ValidateWith(t, node, config, servers, "CROSS_CHECK_INTERVAL=1s")
	if err == nil || !strings.Contains(string(out), "cross_check::interval: 1s is below the minimum of 16s") {
		t.Errorf("interval 1s: %v\n%s", err, out)
	}
	out, err = testbin.ValidateWith(t, node, config, "CROSS_CHECK_SERVERS=ntp1.internal.example")
	if err == nil || !strings.Contains(string(out), "want host:port") {
		t.Errorf("a server without port: %v\n%s", err, out)
	}
}

// checkPodPolicyBinding: the admission policy that refuses what Pod
// Security's "privileged" level admits is bound, denying, to the namespace
// the manifests create, and covers pods and the ephemeral containers
// kubectl debug adds. What it refuses and admits is checked against a real
// API server (apiserver_test.go, test/cluster).
func checkPodPolicyBinding(t *testing.T, where string, policy *admissionv1.ValidatingAdmissionPolicy, binding *admissionv1.ValidatingAdmissionPolicyBinding, namespace string) {
	t.Helper()
	if policy == nil || binding == nil {
		t.Errorf("%s: no ValidatingAdmissionPolicy and binding rendered", where)
		return
	}
	if binding.Spec.PolicyName != policy.Name {
		t.Errorf("%s: the binding names policy %q, the policy is %q", where, binding.Spec.PolicyName, policy.Name)
	}
	if !slices.Equal(binding.Spec.ValidationActions, []admissionv1.ValidationAction{admissionv1.Deny}) {
		t.Errorf("%s: the binding's actions are %v, want [Deny]", where, binding.Spec.ValidationActions)
	}
	if fp := policy.Spec.FailurePolicy; fp == nil || *fp != admissionv1.Fail {
		t.Errorf("%s: the policy's failurePolicy is not Fail: an error in it would admit the pod", where)
	}
	m := binding.Spec.MatchResources
	if m == nil || m.NamespaceSelector == nil || len(m.NamespaceSelector.MatchExpressions) != 0 ||
		len(m.NamespaceSelector.MatchLabels) != 1 || m.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != namespace {
		t.Errorf("%s: the binding does not select namespace %q alone: %+v", where, namespace, m)
	}
	covered := map[string]bool{}
	if mc := policy.Spec.MatchConstraints; mc != nil {
		for _, r := range mc.ResourceRules {
			for _, res := range r.Resources {
				for _, op := range r.Operations {
					covered[res+" "+string(op)] = true
				}
			}
		}
	}
	for _, want := range []string{"pods CREATE", "pods/ephemeralcontainers UPDATE", "daemonsets CREATE", "daemonsets UPDATE"} {
		if !covered[want] {
			t.Errorf("%s: the policy does not match %s", where, want)
		}
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// validateConfig runs bin's validate command, bin being the distribution
// the container runs (testbin.ForCommand).
func validateConfig(t *testing.T, where, bin string, cfg []byte, env ...string) {
	t.Helper()
	if out, err := testbin.ValidateWith(t, bin, writeConfig(t, cfg), env...); err != nil {
		t.Errorf("%s: %s validate: %v\n%s", where, filepath.Base(bin), err, out)
	}
}

func writeConfig(t *testing.T, cfg []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkHardening is the least-privilege contract: no root, no privilege
// escalation, no capabilities, read-only root filesystem, RuntimeDefault
// seccomp, no host PID or IPC, and no host path but chronyd's socket
// directory. Host networking is the one exception, and only by choice.
func checkHardening(t *testing.T, where string, spec *corev1.PodSpec) {
	t.Helper()
	checkPodSecurity(t, where, spec)
	checkPlacement(t, where, spec.NodeSelector, spec.PriorityClassName)
}

func checkPodSecurity(t *testing.T, where string, spec *corev1.PodSpec) {
	t.Helper()
	fail := func(format string, args ...any) { t.Errorf("%s: "+format, append([]any{where}, args...)...) }
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		fail("pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		fail("pod securityContext.runAsUser is unset or 0")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		fail("pod seccompProfile is not RuntimeDefault")
	}
	if spec.HostPID || spec.HostIPC {
		fail("hostPID or hostIPC is set")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil && v.HostPath.Path != "/run/chrony" {
			fail("hostPath %s: only chronyd's socket directory may be mounted", v.HostPath.Path)
		}
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		checkContainer(t, where+" container "+c.Name, &c)
	}
}

// checkPlacement: Linux nodes only (tolerating every taint would otherwise
// reach Windows pools), and a priority that keeps the pod on a full node.
func checkPlacement(t *testing.T, where string, nodeSelector map[string]string, priorityClass string) {
	t.Helper()
	if nodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("%s: nodeSelector %v does not keep the pods to Linux nodes", where, nodeSelector)
	}
	if priorityClass != "system-node-critical" {
		t.Errorf("%s: priorityClassName %q, want system-node-critical", where, priorityClass)
	}
}

// listeningPorts are the TCP ports a collector configuration listens on: the
// health check, the Prometheus exporter and the internal telemetry.
func listeningPorts(t *testing.T, config []byte) []int32 {
	t.Helper()
	var cfg struct {
		// Every health check: the readiness extension and the contrib
		// health check's legacy form (endpoint), or the contrib's
		// component-status form (http.endpoint).
		Extensions map[string]struct {
			Endpoint string
			HTTP     struct{ Endpoint string }
		}
		Exporters struct {
			Prometheus     struct{ Endpoint string }
			PrometheusText struct{ Endpoint string } `yaml:"prometheustext"`
		}
		Service struct {
			Telemetry struct {
				Metrics struct {
					Readers []struct {
						Pull struct {
							Exporter struct {
								Prometheus struct{ Port int32 }
							}
						}
					}
				}
			}
		}
	}
	if err := yaml.Unmarshal(config, &cfg); err != nil {
		t.Fatal(err)
	}
	endpoints := []string{cfg.Exporters.Prometheus.Endpoint, cfg.Exporters.PrometheusText.Endpoint}
	for _, e := range cfg.Extensions {
		endpoints = append(endpoints, e.Endpoint, e.HTTP.Endpoint)
	}
	var ports []int32
	for _, endpoint := range endpoints {
		if i := strings.LastIndexByte(endpoint, ':'); i >= 0 {
			p, err := strconv.Atoi(endpoint[i+1:])
			if err != nil {
				t.Fatalf("endpoint %q: %v", endpoint, err)
			}
			ports = append(ports, int32(p))
		}
	}
	for _, r := range cfg.Service.Telemetry.Metrics.Readers {
		if p := r.Pull.Exporter.Prometheus.Port; p != 0 {
			ports = append(ports, p)
		}
	}
	return ports
}

// checkPortsDeclared: every port the collector listens on is a declared
// container port, so that the scheduler sees a clash on a host-network node,
// and none is 13133, which every other OpenTelemetry collector takes.
func checkPortsDeclared(t *testing.T, where string, listening []int32, c corev1.Container) {
	t.Helper()
	declared := map[int32]bool{}
	for _, p := range c.Ports {
		declared[p.ContainerPort] = true
	}
	for _, p := range listening {
		if !declared[p] {
			t.Errorf("%s: the collector listens on %d, which the container does not declare", where, p)
		}
		if p == 13133 {
			t.Errorf("%s: port 13133 is every OpenTelemetry collector's default health port", where)
		}
	}
}

var portName = regexp.MustCompile(`^(?:[a-z0-9]|[a-z0-9][a-z0-9-]{0,13}[a-z0-9])$`)

func checkContainer(t *testing.T, where string, c *corev1.Container) {
	t.Helper()
	fail := func(format string, args ...any) { t.Errorf("%s: "+format, append([]any{where}, args...)...) }
	for _, p := range c.Ports {
		// The API server's rule for a port name (IANA_SVC_NAME).
		if p.Name != "" && !portName.MatchString(p.Name) {
			fail("port name %q: at most 15 lower-case letters, digits and inner hyphens, with a letter", p.Name)
		}
	}
	sc := c.SecurityContext
	if sc == nil {
		fail("no securityContext")
		return
	}
	if sc.Privileged != nil && *sc.Privileged {
		fail("privileged")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		fail("allowPrivilegeEscalation is not false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		fail("the root filesystem is writable")
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		fail("runAsUser 0")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		fail("capabilities are not drop ALL, add none")
	}
	for _, arg := range append(slices.Clone(c.Command), c.Args...) {
		if strings.Contains(arg, "sudo") {
			fail("runs sudo: %q", arg)
		}
	}
}

// Nothing in the kit runs sudo or a privileged container, whatever the file.
func TestNoSudoOrPrivileged(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, ".md") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, bad := range []string{"sudo", "privileged: true", "runAsUser: 0\n", "allowPrivilegeEscalation: true", "readOnlyRootFilesystem: false"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// chartReference is the chart's schema and defaults, kept in the shared
// folder beside the repository (present in CI).
func chartReference(t *testing.T) (schema, defaults string, ok bool) {
	dir := filepath.Join(testbin.RepoRoot(), "..", "shared", "reference", "opentelemetry-collector-chart-0.170.0")
	schema, defaults = filepath.Join(dir, "values.schema.json"), filepath.Join(dir, "values.yaml")
	if _, err := os.Stat(schema); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the chart reference is not at %s: CI must have it", dir)
		}
		t.Logf("NOTE: the chart reference is not at %s: values are NOT checked against the chart's schema on this machine", dir)
		return "", "", false
	}
	return schema, defaults, true
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// coalesce merges src over dst as Helm merges values files: maps merge key
// by key, a null removes the key, anything else replaces.
func coalesce(dst, src map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range src {
		if v == nil {
			delete(out, k)
			continue
		}
		sm, sok := v.(map[string]any)
		dm, dok := out[k].(map[string]any)
		if sok && dok {
			out[k] = coalesce(dm, sm)
		} else if sok {
			out[k] = coalesce(map[string]any{}, sm)
		} else {
			out[k] = v
		}
	}
	return out
}

var helmVariants = []struct {
	overlay string
	// same is the plain manifests' collector configuration this variant
	// must equal, if any.
	same string
}{
	{"", "kubernetes/base/otelcol-chrony.yaml"},
	{"values-remote-write.yaml", "kubernetes/overlays/remote-write/remote-write.yaml"},
	{"values-azure-ama.yaml", "kubernetes/base/otelcol-chrony.yaml"},
	{"values-azure-remote-write-sidecar.yaml", ""},
	{"values-cross-check.yaml", ""},
	{"values-prometheus-operator.yaml", "kubernetes/base/otelcol-chrony.yaml"},
}

// Each values combination passes the chart's schema and holds the hardening
// invariants; TestChartRenders checks what the chart makes of them.
func TestHelmValues(t *testing.T) {
	schemaPath, defaultsPath, haveChart := chartReference(t)
	base := readYAML(t, "helm/values.yaml")
	for _, v := range helmVariants {
		name := "values.yaml"
		values := base
		if v.overlay != "" {
			name += "+" + v.overlay
			values = coalesce(base, readYAML(t, filepath.Join("helm", v.overlay)))
		}
		t.Run(name, func(t *testing.T) {
			if haveChart {
				// Helm checks the schema against the chart's defaults with
				// the user's values merged in.
				checkSchema(t, schemaPath, coalesce(readYAML(t, defaultsPath), values))
			}
			checkValuesHardening(t, values)
		})
	}
}

// normalise round-trips through JSON so that equal YAML compares equal.
func normalise(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkValuesHardening(t *testing.T, values map[string]any) {
	t.Helper()
	spec := corev1.PodSpec{}
	if v, ok := values["podSecurityContext"]; ok {
		b, _ := json.Marshal(v)
		must(t, strictDecode(b, &spec.SecurityContext), "podSecurityContext")
	}
	main := corev1.Container{Name: "otelcol-chrony"}
	if v, ok := values["securityContext"]; ok {
		b, _ := json.Marshal(v)
		must(t, strictDecode(b, &main.SecurityContext), "securityContext")
	}
	spec.Containers = append(spec.Containers, main)
	if v, ok := values["extraContainers"]; ok {
		b, _ := json.Marshal(v)
		var extra []corev1.Container
		must(t, strictDecode(b, &extra), "extraContainers")
		spec.Containers = append(spec.Containers, extra...)
	}
	if v, ok := values["extraVolumes"]; ok {
		b, _ := json.Marshal(v)
		must(t, strictDecode(b, &spec.Volumes), "extraVolumes")
	}
	if values["hostPID"] == true {
		spec.HostPID = true
	}
	if v, ok := values["nodeSelector"]; ok {
		b, _ := json.Marshal(v)
		must(t, strictDecode(b, &spec.NodeSelector), "nodeSelector")
	}
	spec.PriorityClassName, _ = values["priorityClassName"].(string)
	checkHardening(t, "values", &spec)
	if values["mode"] != "daemonset" {
		t.Errorf("mode %v, want daemonset", values["mode"])
	}
	if cmd, _ := values["command"].(map[string]any); cmd["name"] != "otelcol-chrony" && cmd["name"] != "otelcol-chrony-node" {
		t.Errorf("command.name %v: the chart would run a binary the image does not have", cmd["name"])
	}
}

func TestHelmValuesNamedInReadme(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range helmVariants {
		if v.overlay != "" && !bytes.Contains(readme, []byte(v.overlay)) {
			t.Errorf("deploy/README.md does not explain %s", v.overlay)
		}
	}
	for _, k := range kustomizations {
		if !bytes.Contains(readme, []byte(k)) {
			t.Errorf("deploy/README.md does not explain %s", k)
		}
	}
}

// checkSchema validates values against the chart's values.schema.json, which
// rejects unknown top-level keys.
func checkSchema(t *testing.T, schemaPath string, values map[string]any) {
	t.Helper()
	sch, err := jsonschema.NewCompiler().Compile(schemaPath)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaPath, err)
	}
	b, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("values do not match the chart's schema: %v", err)
	}
}

func unmarshalYAML(y []byte, out any) error { return yaml.Unmarshal(y, out) }

// checkProbes: readiness follows the receiver's status and is first read
// after the first scrape's timeout; liveness stays 200 while the process runs
// (restarting it would not bring chronyd back). otelcol-chrony-node serves
// both from its readiness extension (13533 /ready and /live); the full build
// from two contrib health check endpoints (13533 and 13534), with the
// feature gate that makes the first follow the components' status.
func checkProbes(t *testing.T, where string, c corev1.Container) {
	t.Helper()
	path := func(p *corev1.Probe) string {
		if p == nil || p.HTTPGet == nil {
			return ""
		}
		return p.HTTPGet.Path
	}
	port := func(p *corev1.Probe) int32 {
		if p == nil || p.HTTPGet == nil {
			return 0
		}
		if p.HTTPGet.Port.IntVal != 0 {
			return p.HTTPGet.Port.IntVal
		}
		for _, cp := range c.Ports {
			if cp.Name == p.HTTPGet.Port.StrVal {
				return cp.ContainerPort
			}
		}
		return 0
	}
	type endpoint struct {
		port int32
		path string
	}
	wantReady, wantLive := endpoint{13533, "/ready"}, endpoint{13533, "/live"}
	if len(c.Command) == 0 || filepath.Base(c.Command[0]) != "otelcol-chrony-node" {
		wantReady, wantLive = endpoint{13533, "/"}, endpoint{13534, "/"}
		if !slices.Contains(append(slices.Clone(c.Command), c.Args...), testbin.HealthCheckFeatureGate) {
			t.Errorf("%s: the full build runs without %s: readiness would not follow chronyd", where, testbin.HealthCheckFeatureGate)
		}
	}
	if got := (endpoint{port(c.ReadinessProbe), path(c.ReadinessProbe)}); got != wantReady || c.ReadinessProbe.InitialDelaySeconds < 25 {
		t.Errorf("%s: readiness on %v, %v; want the receiver-following %v after the first scrape (at least 25 s)", where, got, c.ReadinessProbe, wantReady)
	}
	if got := (endpoint{port(c.LivenessProbe), path(c.LivenessProbe)}); got != wantLive {
		t.Errorf("%s: liveness on %v, want %v (it must not fail while chronyd is away)", where, got, wantLive)
	}
}
