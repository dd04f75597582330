package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	"helm.sh/helm/v4/pkg/kube"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
	"github.com/chronyotel/otelcol-chrony/test/cluster/kubecluster"
)

const (
	imageRef    = "ghcr.io/chronyotel/otelcol-chrony:0.1.0"
	releaseName = "otelcol-chrony"
	// chronyd's command port, where the DaemonSet reads it on the node.
	chronydCmdPort = 323
)

// env is what every subtest shares: one cluster, one chronyd on the host,
// one Prometheus on the host.
type env struct {
	root      string
	chart     string
	cluster   *kubecluster.Cluster
	lab       *chronylab.Lab
	prom      *prometheus
	namespace string
	// When the namespace's admission policy was seen refusing a pod.
	policyEnforced time.Time
}

func setup(t *testing.T) *env {
	t.Helper()
	root := repoRoot(t)
	e := &env{root: root}
	require(t, os.Geteuid() == 0, "the cluster needs root (cgroups, mounts, network namespaces)")
	binDir := os.Getenv("CHRONYOTEL_CLUSTER_BIN")
	if binDir == "" {
		binDir = filepath.Join(root, ".tools", "cluster")
	}
	_, err := os.Stat(filepath.Join(binDir, "kubelet"))
	require(t, err == nil, "no Kubernetes build in %s: make test-cluster builds it", binDir)
	for _, p := range []string{"containerd", "ctr", "runc", "chronyd", "chronyc"} {
		require(t, lookPath(p) != "", "%s is not installed (scripts/install-deps.sh containerd runc containernetworking-plugins chrony)", p)
	}
	layout := filepath.Join(root, "_build", "otelcol-chrony-oci")
	_, err = os.Stat(filepath.Join(layout, "index.json"))
	require(t, err == nil, "no image at %s: make image builds it", layout)
	e.chart = filepath.Join(root, "..", "shared", "reference", "opentelemetry-collector-chart-0.170.0", "chart")
	_, err = os.Stat(filepath.Join(e.chart, "Chart.yaml"))
	require(t, err == nil, "the chart 0.170.0 is not at %s", e.chart)
	if c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", chronydCmdPort)); err != nil {
		t.Fatalf("the host chronyd of the test needs 127.0.0.1:%d, where the DaemonSet reads chronyd, and it is taken (a chronyd running on this machine?): %v", chronydCmdPort, err)
	} else {
		c.Close()
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e.cluster, err = kubecluster.Start(ctx, kubecluster.Options{BinDir: binDir, Logf: t.Logf})
	if err != nil {
		t.Fatalf("starting the cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"kubelet", "containerd", "kube-apiserver"} {
				t.Logf("--- end of %s's log ---\n%s", n, e.cluster.LogTail(n, 15))
			}
		}
		begin := time.Now()
		if err := e.cluster.Stop(); err != nil {
			t.Errorf("tearing the cluster down: %v", err)
		}
		t.Logf("cluster torn down in %s", time.Since(begin).Round(time.Millisecond))
	})
	t.Logf("cluster up (node Ready) in %s", time.Since(start).Round(time.Millisecond))
	begin := time.Now()
	if err := e.cluster.ImportOCILayout(ctx, layout, imageRef); err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s imported in %s", imageRef, time.Since(begin).Round(time.Millisecond))

	// The host's chronyd, as on a node: commands on 127.0.0.1:323, synced to
	// an upstream chronyd on loopback, never touching the clock (-x).
	e.lab = chronylab.Start(t, chronylab.Options{})
	e.cluster.OnStop(e.lab.Stop)
	e.lab.KillChronyd()
	e.lab.CmdPort = chronydCmdPort
	e.lab.StartChronyd()
	e.lab.WaitSynced()

	// On the node's address: pods on the pod network (the evidence Job)
	// reach it there through the bridge.
	e.prom = startPrometheus(t, kubecluster.NodeIP, kubecluster.NodeIP+":9464")
	e.namespace = createNamespace(t, e, filepath.Join(root, "deploy", "kubernetes", "base", "namespace.yaml"))
	e.applyPodPolicy(t, filepath.Join(root, "deploy", "kubernetes", "base", "pod-policy.yaml"))
	return e
}

// The namespace's admission policy and its binding
// (deploy/kubernetes/base/pod-policy.yaml), and the start of what it says
// when it refuses.
const (
	podPolicy       = "otelcol-chrony-pods"
	podPolicyDenied = "ValidatingAdmissionPolicy 'otelcol-chrony-pods' with binding 'otelcol-chrony-pods' denied request: "
)

// applyPodPolicy applies the admission policy beside the namespace, as the
// deploy README has Helm users do before helm install, and waits until the
// API server enforces it (it loads policies asynchronously).
func (e *env) applyPodPolicy(t *testing.T, manifest string) {
	t.Helper()
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(string(b), "\n---\n") {
		obj := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("%s: %v", manifest, err)
		}
		if len(obj) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: obj})
		}
	}
	if len(objs) != 2 {
		t.Fatalf("%s: %d objects, want the policy and its binding", manifest, len(objs))
	}
	e.apply(t, objs)
	ctx := mustContext(t)
	probe := corev1.PodSpec{HostPID: true, Containers: []corev1.Container{{Name: "probe", Image: imageRef, ImagePullPolicy: corev1.PullNever}}}
	waitUntil(t, 30*time.Second, 200*time.Millisecond, "the admission policy refusing a hostPID pod", func() error {
		_, err := e.tryDryRunPod(ctx, e.namespace, "policy-probe", probe)
		if err == nil || !strings.Contains(err.Error(), podPolicyDenied+"hostPID refused") {
			return fmt.Errorf("a hostPID pod: %v", err)
		}
		return nil
	}, nil)
	e.policyEnforced = time.Now()
}

// createNamespace creates the namespace a manifest describes and waits for
// its default ServiceAccount, which pods race otherwise.
func createNamespace(t *testing.T, e *env, manifest string) string {
	t.Helper()
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var ns corev1.Namespace
	if err := yaml.UnmarshalStrict(b, &ns); err != nil {
		t.Fatalf("%s: %v", manifest, err)
	}
	ctx := mustContext(t)
	if _, err := e.cluster.Client.CoreV1().Namespaces().Create(ctx, &ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s from %s: %v", ns.Name, manifest, err)
	}
	waitUntil(t, 30*time.Second, 200*time.Millisecond, "the default ServiceAccount of "+ns.Name, func() error {
		_, err := e.cluster.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err
	}, nil)
	return ns.Name
}

func (e *env) helmConfig(t *testing.T) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &e.cluster.Kubeconfig
	flags.Namespace = &e.namespace
	cfg := action.NewConfiguration()
	if err := cfg.Init(flags, e.namespace, "secret"); err != nil {
		t.Fatalf("helm configuration: %v", err)
	}
	return cfg
}

func (e *env) values(t *testing.T, files []string, setString []string) map[string]any {
	t.Helper()
	var abs []string
	for _, f := range files {
		abs = append(abs, filepath.Join(e.root, f))
	}
	vals, err := (&values.Options{ValueFiles: abs, StringValues: setString}).MergeValues(getter.Providers{})
	if err != nil {
		t.Fatalf("values %v %v: %v", files, setString, err)
	}
	return vals
}

func (e *env) describe(selector string) func() string {
	return func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return e.cluster.Describe(ctx, e.namespace, selector)
	}
}

const collectorSelector = "app.kubernetes.io/name=opentelemetry-collector"

// helmInstall installs the real chart, as `helm install --wait` does.
func (e *env) helmInstall(t *testing.T, valueFiles ...string) {
	t.Helper()
	chrt, err := loader.Load(e.chart)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	install := action.NewInstall(e.helmConfig(t))
	install.ReleaseName = releaseName
	install.Namespace = e.namespace
	install.WaitStrategy = kube.StatusWatcherStrategy
	install.Timeout = 3 * time.Minute
	begin := time.Now()
	if _, err := install.RunWithContext(mustContext(t), chrt, e.values(t, valueFiles, nil)); err != nil {
		t.Fatalf("helm install %v: %v\n%s", valueFiles, err, e.describe(collectorSelector)())
	}
	t.Logf("helm install --wait took %s", time.Since(begin).Round(time.Second))
}

// daemonSetPod is the DaemonSet's one pod, Ready.
func (e *env) readyPod(t *testing.T, selector string, timeout time.Duration) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	ctx := mustContext(t)
	waitUntil(t, timeout, time.Second, "one Ready pod for "+selector, func() error {
		pods, err := e.cluster.Client.CoreV1().Pods(e.namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		var ready []*corev1.Pod
		for i := range pods.Items {
			if p := &pods.Items[i]; p.DeletionTimestamp == nil && podReady(p) {
				ready = append(ready, p)
			}
		}
		if len(ready) != 1 {
			return fmt.Errorf("%d of %d pods Ready", len(ready), len(pods.Items))
		}
		pod = ready[0]
		return nil
	}, e.describe(selector))
	return pod
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// checkReading checks what the host Prometheus scraped from the DaemonSet:
// chrony_up 1 and a finite maximum error, labelled with the node's name the
// downward API gave the pod.
func (e *env) checkReading(t *testing.T, selector string) {
	t.Helper()
	sel := fmt.Sprintf(`{k8s_node_name=%q,job="otelcol-chrony"}`, kubecluster.NodeName)
	describe := func() string { return e.describe(selector)() + "\n" + e.prom.targets() }
	e.prom.one(t, 2*time.Minute, "chrony_up"+sel, func(s sample) error {
		if s.Value != 1 {
			return fmt.Errorf("chrony_up = %g", s.Value)
		}
		return nil
	}, describe)
	s := e.prom.one(t, time.Minute, "ntp_time_max_error_seconds"+sel, func(s sample) error {
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) || s.Value <= 0 || s.Value > 1 {
			return fmt.Errorf("ntp_time_max_error_seconds = %g, want a finite positive error below 1 s from a synced chronyd", s.Value)
		}
		return nil
	}, describe)
	t.Logf("scraped from the pod: ntp_time_max_error_seconds%s = %g", sel, s.Value)
}

func TestCluster(t *testing.T) {
	e := setup(t)
	installed := time.Now()

	// Priority: what an SRE installing the chart on a new cluster meets
	// first. Each step needs the one before it.
	steps := []struct {
		name string
		run  func(*testing.T, *env)
	}{
		{"HelmInstall", testHelmInstall},
		{"PodSecurity", testPodSecurity},
		{"ChronydStopped", testChronydStopped},
		{"HelmUpgrade", testHelmUpgrade},
		{"MemoryWorkingSet", testMemory},
		{"EvidenceJob", func(t *testing.T, e *env) { testEvidenceJob(t, e, installed) }},
		{"RemoteWrite", testRemoteWrite},
		{"Kustomize", testKustomize},
		{"KustomizeUnixSocket", testKustomizeUnixSocket},
		{"AzureRemoteWriteSidecar", func(t *testing.T, e *env) {
			t.Skip("not tested: Azure Monitor's remote-write sidecar image (mcr.microsoft.com/azuremonitor/...prom-remotewrite) cannot be pulled here, there is no registry; " +
				"the collector's side of that path is: reading chronyd's unix socket as chronyd's user (KustomizeUnixSocket) and remote write (RemoteWrite)")
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, e) }) {
			t.Fatalf("%s failed: the steps after it need what it set up", s.name)
		}
	}
}

// HelmInstall: the real chart with deploy/helm/values.yaml, as `helm install
// --wait` does, into the namespace of deploy/kubernetes/base/namespace.yaml:
// the pod is Ready and what the host Prometheus scrapes from it says it
// reads the host's chronyd.
func testHelmInstall(t *testing.T, e *env) {
	e.helmInstall(t, "deploy/helm/values.yaml")
	pod := e.readyPod(t, collectorSelector, time.Minute)
	if pod.Spec.NodeName != kubecluster.NodeName || !pod.Spec.HostNetwork {
		t.Fatalf("pod %s on node %q, hostNetwork %v", pod.Name, pod.Spec.NodeName, pod.Spec.HostNetwork)
	}
	e.checkReading(t, collectorSelector)
}

// PodSecurity: the namespace enforces Pod Security's "privileged" level,
// which the DaemonSet's host network needs, and warns at "restricted"; its
// admission policy refuses what "privileged" admits beyond what the
// DaemonSet needs. The Helm DaemonSet's pod was admitted under the policy
// and is Ready; a privileged pod and a hostPID pod are refused, saying why.
func testPodSecurity(t *testing.T, e *env) {
	ctx := mustContext(t)
	ns, err := e.cluster.Client.CoreV1().Namespaces().Get(ctx, e.namespace, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if enforce := ns.Labels["pod-security.kubernetes.io/enforce"]; enforce != "privileged" {
		t.Errorf("namespace %s enforces Pod Security level %q: the DaemonSet's host network needs privileged, and the admission policy is what refuses more", e.namespace, enforce)
	}

	// The policy as kube-controller-manager type-checked it against the
	// kinds it matches: no warnings.
	var checked *admissionregistrationv1.ValidatingAdmissionPolicy
	waitUntil(t, time.Minute, time.Second, "the admission policy type-checked", func() error {
		p, err := e.cluster.Client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, podPolicy, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.ObservedGeneration != p.Generation || p.Status.TypeChecking == nil {
			return fmt.Errorf("status for generation %d of %d, type checking %v", p.Status.ObservedGeneration, p.Generation, p.Status.TypeChecking)
		}
		checked = p
		return nil
	}, nil)
	for _, w := range checked.Status.TypeChecking.ExpressionWarnings {
		t.Errorf("the admission policy's %s: %s", w.FieldRef, w.Warning)
	}

	// Admitted: the Helm DaemonSet's pod, created after the policy was
	// enforced, and Ready.
	pod := e.readyPod(t, collectorSelector, time.Minute)
	if pod.CreationTimestamp.Time.Before(e.policyEnforced.Truncate(time.Second)) {
		t.Errorf("pod %s was created at %s, before the admission policy was enforced (%s)", pod.Name, pod.CreationTimestamp.Format(time.TimeOnly), e.policyEnforced.Format(time.TimeOnly))
	}
	ds := e.daemonSet(t)
	// A server-side dry run of its template shows what the warn level says
	// of it.
	warnings := e.dryRunPod(t, e.namespace, "ds-template", ds.Spec.Template.Spec)
	t.Logf("namespace %s: enforce=%s warn=%s; pod %s admitted under the admission policy and Ready; warnings for the DaemonSet's pod: %q", e.namespace,
		ns.Labels["pod-security.kubernetes.io/enforce"], ns.Labels["pod-security.kubernetes.io/warn"], pod.Name, warnings)
	for _, w := range warnings {
		// Host networking and the host ports it implies are the only thing
		// the deploy README says falls short of "restricted".
		if !strings.Contains(w, "hostNetwork") && !strings.Contains(w, "hostPort") {
			t.Errorf("the DaemonSet's pod breaks restricted beyond host networking: %s", w)
		}
	}
	if len(warnings) == 0 {
		t.Errorf("no warning for the DaemonSet's pod: is warn=restricted still on namespace %s?", e.namespace)
	}

	// Refused: a privileged pod, and the DaemonSet's own pod asking for the
	// node's process namespace.
	privileged := true
	e.refused(t, "privileged", corev1.PodSpec{Containers: []corev1.Container{{
		Name: "privileged", Image: imageRef, ImagePullPolicy: corev1.PullNever,
		SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
	}}}, "privileged container refused in namespace otelcol-chrony (privileged)")
	hostPID := *ds.Spec.Template.Spec.DeepCopy()
	hostPID.HostPID = true
	e.refused(t, "hostpid", hostPID, "hostPID refused in namespace otelcol-chrony")
}

// refused dry-runs a pod in the namespace and checks that the admission
// policy refuses it with a message that starts with want.
func (e *env) refused(t *testing.T, name string, spec corev1.PodSpec, want string) {
	t.Helper()
	_, err := e.tryDryRunPod(mustContext(t), e.namespace, name, spec)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), podPolicyDenied+want) {
		t.Errorf("pod %s in %s: want refused by the admission policy with %q, got %v", name, e.namespace, want, err)
		return
	}
	t.Logf("pod %s refused: %v", name, err)
}

func (e *env) daemonSet(t *testing.T) *appsv1.DaemonSet {
	t.Helper()
	list, err := e.cluster.Client.AppsV1().DaemonSets(e.namespace).List(mustContext(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d DaemonSets in %s, want 1", len(list.Items), e.namespace)
	}
	return &list.Items[0]
}

func (e *env) dryRunPod(t *testing.T, ns, name string, spec corev1.PodSpec) []string {
	t.Helper()
	warnings, err := e.tryDryRunPod(mustContext(t), ns, name, spec)
	if err != nil {
		t.Fatalf("dry-run of pod %s in %s: %v", name, ns, err)
	}
	return warnings
}

// tryDryRunPod creates a pod with dryRun=All and returns the admission
// warnings.
func (e *env) tryDryRunPod(ctx context.Context, ns, name string, spec corev1.PodSpec) ([]string, error) {
	rec := &warningRecorder{}
	cfg := *e.cluster.Config
	cfg.WarningHandler = rec
	client, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		return nil, err
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	_, err = client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return rec.warnings, err
}

type warningRecorder struct{ warnings []string }

func (w *warningRecorder) HandleWarningHeader(code int, agent, text string) {
	w.warnings = append(w.warnings, text)
}

// ChronydStopped: with the host's chronyd gone, the next scrape says
// chrony_up 0 and the pod goes NotReady after the readiness grace; when
// chronyd is back the same container is Ready again.
func testChronydStopped(t *testing.T, e *env) {
	ctx := mustContext(t)
	pod := e.readyPod(t, collectorSelector, time.Minute)
	restarts := restartCount(pod)
	sel := fmt.Sprintf(`{k8s_node_name=%q,job="otelcol-chrony"}`, kubecluster.NodeName)
	describe := func() string { return e.describe(collectorSelector)() + "\n" + e.prom.targets() }

	stopped := time.Now()
	e.lab.KillChronyd()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			e.lab.StartChronyd()
		}
	})
	// A collection interval (30 s) and a scrape interval at most.
	e.prom.one(t, 30*time.Second+2*scrapeInterval+10*time.Second, "chrony_up"+sel, func(s sample) error {
		if s.Value != 0 {
			return fmt.Errorf("chrony_up = %g", s.Value)
		}
		return nil
	}, describe)
	t.Logf("chrony_up 0 scraped %s after chronyd stopped", time.Since(stopped).Round(time.Second))
	// The first failed read, the 10 s recovery window, a probe period and
	// the probe's failure threshold (3).
	waitUntil(t, 30*time.Second+10*time.Second+4*10*time.Second+15*time.Second, time.Second, "the pod NotReady", func() error {
		p, err := e.cluster.Client.CoreV1().Pods(e.namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if podReady(p) {
			return errors.New("still Ready")
		}
		return nil
	}, describe)
	t.Logf("pod NotReady %s after chronyd stopped", time.Since(stopped).Round(time.Second))

	back := time.Now()
	e.lab.StartChronyd()
	restarted = true
	e.lab.WaitSynced()
	again := e.readyPod(t, collectorSelector, 2*time.Minute)
	t.Logf("pod Ready again %s after chronyd came back", time.Since(back).Round(time.Second))
	if again.UID != pod.UID || restartCount(again) != restarts {
		t.Errorf("pod %s (restarts %d) before, %s (restarts %d) after: chronyd's absence restarted the collector", pod.UID, restarts, again.UID, restartCount(again))
	}
	e.checkReading(t, collectorSelector)
}

func restartCount(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

// HelmUpgrade: `helm upgrade --wait` with a changed value replaces the pod
// (maxUnavailable, no surge: the ports are the node's), and the scraped
// series has no gap longer than one collection interval.
func testHelmUpgrade(t *testing.T, e *env) {
	before := e.readyPod(t, collectorSelector, time.Minute)
	chrt, err := loader.Load(e.chart)
	if err != nil {
		t.Fatal(err)
	}
	upgrade := action.NewUpgrade(e.helmConfig(t))
	upgrade.Namespace = e.namespace
	upgrade.WaitStrategy = kube.StatusWatcherStrategy
	upgrade.Timeout = 3 * time.Minute
	start := time.Now()
	vals := e.values(t, []string{"deploy/helm/values.yaml"}, []string{"podAnnotations.otelcol-chrony-test/rollout=" + start.Format("150405")})
	if _, err := upgrade.RunWithContext(mustContext(t), releaseName, chrt, vals); err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, e.describe(collectorSelector)())
	}
	after := e.readyPod(t, collectorSelector, 2*time.Minute)
	if after.UID == before.UID {
		t.Fatalf("helm upgrade with a changed pod annotation left pod %s in place", before.Name)
	}
	t.Logf("helm upgrade --wait rolled %s to %s in %s", before.Name, after.Name, time.Since(start).Round(time.Second))
	// Let a few scrapes of the new pod land, then look at the whole series.
	time.Sleep(2 * scrapeInterval)
	window := time.Since(start) + time.Minute
	sel := fmt.Sprintf(`chrony_up{k8s_node_name=%q}[%ds]`, kubecluster.NodeName, int(window.Seconds()))
	vals2, times, err := e.prom.rangeSamples(sel)
	if err != nil {
		t.Fatal(err)
	}
	// From the last sample before the upgrade on.
	first := 0
	for i, ts := range times {
		if ts.Before(start) {
			first = i
		}
	}
	vals2, times = vals2[first:], times[first:]
	if len(times) < 2 {
		t.Fatalf("%d samples of %s since the upgrade began", len(times), sel)
	}
	var maxGap time.Duration
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap > maxGap {
			maxGap = gap
		}
	}
	for i, v := range vals2 {
		if v != 1 {
			t.Errorf("chrony_up = %g at %s during the rollout", v, times[i].Format(time.TimeOnly))
		}
	}
	const interval = 30 * time.Second // collection_interval in deploy/helm/values.yaml
	t.Logf("longest gap in chrony_up across the rollout: %s (%d samples, scrape interval %s)", maxGap, len(times), scrapeInterval)
	if maxGap > interval {
		t.Errorf("chrony_up has a gap of %s across the rollout, longer than the collection interval %s", maxGap, interval)
	}
}

// MemoryWorkingSet: the collector container's working set from its cgroup
// (usage minus inactive file, as the kubelet counts it) after 5 minutes,
// against the 32Mi the values request.
func testMemory(t *testing.T, e *env) {
	ctx := mustContext(t)
	pod := e.readyPod(t, collectorSelector, time.Minute)
	if wait := 5*time.Minute - time.Since(pod.CreationTimestamp.Time); wait > 0 {
		t.Logf("waiting %s for the collector's 5 minutes", wait.Round(time.Second))
		time.Sleep(wait)
	}
	ctr, err := e.cluster.Container(ctx, pod, pod.Spec.Containers[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	ws, usage, err := kubecluster.WorkingSet(ctr.PID)
	if err != nil {
		t.Fatal(err)
	}
	req := pod.Spec.Containers[0].Resources.Requests.Memory()
	// The process's resident set also counts the binary's pages, which
	// the page cache holds and containerd's unpacking charged elsewhere.
	rss := "?"
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", ctr.PID)); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				rss = strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:"))
			}
		}
	}
	t.Logf("collector container working set %.1f MiB (cgroup usage %.1f MiB; the process's RSS %s), request %s, pod up %s",
		float64(ws)/(1<<20), float64(usage)/(1<<20), rss, req, time.Since(pod.CreationTimestamp.Time).Round(time.Second))
	if ws > req.Value() {
		t.Errorf("working set %d bytes exceeds the memory request %s", ws, req)
	}
}
