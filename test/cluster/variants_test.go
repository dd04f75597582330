package cluster_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
	"github.com/chronyotel/otelcol-chrony/test/cluster/kubecluster"
)

// kustomizeBuild is `kustomize build dir`, in-process, as kubectl apply -k
// runs it.
func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range m.Resources() {
		obj, err := r.Map()
		if err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
	return out
}

// apply is `kubectl apply --server-side` of the objects.
func (e *env) apply(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := mustContext(t)
	dc, err := dynamic.NewForConfig(e.cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	disco, err := discovery.NewDiscoveryClientForConfig(e.cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s %s: %v", gvk, o.GetName(), err)
		}
		data, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var ri dynamic.ResourceInterface = dc.Resource(mapping.Resource)
		if mapping.Scope.Name() == "namespace" {
			ri = dc.Resource(mapping.Resource).Namespace(o.GetNamespace())
		}
		force := true
		if _, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "kubectl", Force: &force}); err != nil {
			t.Fatalf("applying %s %s/%s: %v", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
	}
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, namePrefix string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && strings.HasPrefix(o.GetName(), namePrefix) {
			return o
		}
	}
	t.Fatalf("no %s %s* in the build", kind, namePrefix)
	return nil
}

// EvidenceJob: deploy/kubernetes/evidence-signed (the evidence CronJobs with
// a signing key) applied as is but for the query API's address and the
// container's, with the key's Secret made as its kustomization says: an Azurite on the node's address, which
// pods reach through the bridge, with the emulator's account key in the
// Job's environment standing in for workload identity (which needs Entra
// ID). The daily CronJob's pod template runs as a Job over the time the
// collector has been scraped: the report it writes through the Blob API, as
// the non-root user with a read-only root file system, reading the key the
// kubelet mounted for its group, passes chrony-evidence verify, signature
// included, read straight from the container.
func testEvidenceJob(t *testing.T, e *env, since time.Time) {
	ctx := mustContext(t)
	evidenceBin := filepath.Join(e.root, "_build", "image", runtimeArch(), "chrony-evidence")
	_, err := os.Stat(evidenceBin)
	require(t, err == nil, "no %s: make image builds it", evidenceBin)

	azurite := testkit.StartAzurite(t, testkit.AzuriteOptions{Host: kubecluster.NodeIP})
	azurite.CreateContainer(t, nil, "chrony-evidence")
	container := azurite.URL + "/chrony-evidence"

	objs := kustomizeBuild(t, filepath.Join(e.root, "deploy", "kubernetes", "evidence-signed"))
	settings := find(t, objs, "ConfigMap", "chrony-evidence-settings")
	if err := unstructured.SetNestedField(settings.Object, e.prom.url, "data", "PROMETHEUS_URL"); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(settings.Object, container, "data", "EVIDENCE_URL"); err != nil {
		t.Fatal(err)
	}
	ns := find(t, objs, "Namespace", "chrony-evidence").GetName()
	t.Cleanup(func() {
		_ = e.cluster.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	e.apply(t, objs)
	privateKey, publicKey, _ := testkit.SigningKey(t, t.TempDir())
	keyPEM, err := os.ReadFile(privateKey)
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chrony-evidence-signing-key", Namespace: ns}, Data: map[string][]byte{"key.pem": keyPEM}}
	if _, err := e.cluster.Client.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the signing key's Secret: %v", err)
	}
	waitUntil(t, 30*time.Second, 200*time.Millisecond, "the default ServiceAccount of "+ns, func() error {
		_, err := e.cluster.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	}, nil)

	cj, err := e.cluster.Client.BatchV1().CronJobs(ns).Get(ctx, "chrony-evidence-daily", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The period the collector has been scraped, whole minutes, instead of
	// the previous UTC day, which this cluster did not see.
	from := since.UTC().Truncate(time.Minute).Add(time.Minute)
	if wait := time.Until(from.Add(3*time.Minute + 5*time.Second)); wait > 0 {
		t.Logf("waiting %s for three whole minutes of scrapes", wait.Round(time.Second))
		time.Sleep(wait)
	}
	to := time.Now().UTC().Truncate(time.Minute)
	spec := cj.Spec.JobTemplate.Spec.DeepCopy()
	c := &spec.Template.Spec.Containers[0]
	var args []string
	for _, a := range c.Args {
		if a == "--previous=day" {
			args = append(args, "--from="+from.Format(time.RFC3339), "--to="+to.Format(time.RFC3339))
			continue
		}
		args = append(args, a)
	}
	if len(args) == len(c.Args) {
		t.Fatalf("the daily CronJob's args %q have no --previous=day to replace", c.Args)
	}
	c.Args = args
	c.Env = append(c.Env, corev1.EnvVar{Name: "AZURE_STORAGE_ACCOUNT_KEY", Value: testkit.AzuriteKey})
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "chrony-evidence-test", Namespace: ns}, Spec: *spec}
	if _, err := e.cluster.Client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the Job from the CronJob's template: %v", err)
	}
	describe := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return e.cluster.Describe(ctx, ns, "job-name=chrony-evidence-test")
	}
	// The Job deletes its pod, logs and all, once it gives up: what a
	// failed run said is kept while it is there.
	var lastFailure string
	waitUntil(t, 3*time.Minute, time.Second, "the evidence Job complete", func() error {
		j, err := e.cluster.Client.BatchV1().Jobs(ns).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		pods, err := e.cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job.Name})
		if err == nil {
			for i := range pods.Items {
				if restartCount(&pods.Items[i]) > 0 || pods.Items[i].Status.Phase == corev1.PodFailed {
					lastFailure = describe()
				}
			}
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				t.Fatalf("the evidence Job failed: %s\n%s\nwhile it ran:\n%s", c.Message, describe(), lastFailure)
			}
		}
		if j.Status.Succeeded < 1 {
			return fmt.Errorf("succeeded %d, failed %d", j.Status.Succeeded, j.Status.Failed)
		}
		return nil
	}, describe)

	report := container + "/my-cluster"
	verify := exec.Command(evidenceBin, "verify", "--public-key", publicKey, report)
	verify.Env = append(os.Environ(), "AZURE_STORAGE_ACCOUNT_KEY="+testkit.AzuriteKey)
	out, err := verify.CombinedOutput()
	if err != nil {
		t.Fatalf("chrony-evidence verify %s: %v\n%s\n%s", report, err, out, describe())
	}
	if !strings.Contains(string(out), "is good") {
		t.Fatalf("chrony-evidence verify --public-key %s: the signature was not checked:\n%s", report, out)
	}
	t.Logf("the Job wrote a report for %s to %s; chrony-evidence verify: %s", from.Format(time.RFC3339), to.Format(time.RFC3339), strings.TrimSpace(string(out)))
}

func runtimeArch() string { return goruntime.GOARCH }

// RemoteWrite: the chart with values-remote-write.yaml (the full build,
// pushing), its URL pointed at the host Prometheus's remote-write receiver;
// the host Prometheus scrapes nothing meanwhile, so the series it gets were
// pushed.
func testRemoteWrite(t *testing.T, e *env) {
	e.prom.setTargets(t)
	t.Cleanup(func() { e.prom.setTargets(t, kubecluster.NodeIP+":9464") })
	// Samples of the scrape before the switch fall out of the instant
	// queries after 5 minutes; anything newer than switched was pushed.
	switched := time.Now().Add(scrapeInterval)
	time.Sleep(scrapeInterval)

	vals := e.values(t, []string{"deploy/helm/values.yaml", "deploy/helm/values-remote-write.yaml"}, nil)
	envs, _ := vals["extraEnvs"].([]any)
	found := false
	for _, v := range envs {
		if m, ok := v.(map[string]any); ok && m["name"] == "REMOTE_WRITE_URL" {
			m["value"] = e.prom.url + "/api/v1/write"
			found = true
		}
	}
	if !found {
		t.Fatal("values-remote-write.yaml sets no REMOTE_WRITE_URL in extraEnvs")
	}
	chrt, err := loader.Load(e.chart)
	if err != nil {
		t.Fatal(err)
	}
	upgrade := action.NewUpgrade(e.helmConfig(t))
	upgrade.Namespace = e.namespace
	upgrade.WaitStrategy = kube.StatusWatcherStrategy
	upgrade.Timeout = 3 * time.Minute
	if _, err := upgrade.RunWithContext(mustContext(t), releaseName, chrt, vals); err != nil {
		t.Fatalf("helm upgrade to remote write: %v\n%s", err, e.describe(collectorSelector)())
	}
	pod := e.readyPod(t, collectorSelector, 2*time.Minute)
	if got := pod.Spec.Containers[0].Command; len(got) == 0 || !strings.HasSuffix(got[0], "/otelcol-chrony") {
		t.Errorf("the remote-write pod runs %q, want the full build /otelcol-chrony", got)
	}
	e.checkPushed(t, switched)
}

// checkPushed waits for chrony_up 1 and a finite error bound pushed after
// since: series without the job label a scrape would add.
func (e *env) checkPushed(t *testing.T, since time.Time) {
	t.Helper()
	e.checkFresh(t, fmt.Sprintf(`{k8s_node_name=%q,job=""}`, kubecluster.NodeName), since, e.describe(collectorSelector))
	t.Logf("chrony_up 1 and ntp_time_max_error_seconds pushed into %s/api/v1/write", e.prom.url)
}

// checkFresh waits until chrony_up is 1 and ntp_time_max_error_seconds a
// finite error below 1 s in the one series sel picks of each, both sampled
// after since.
func (e *env) checkFresh(t *testing.T, sel string, since time.Time, describe func() string) {
	t.Helper()
	desc := func() string { return describe() + "\n" + e.prom.targets() }
	for _, metric := range []string{"chrony_up", "ntp_time_max_error_seconds"} {
		waitUntil(t, 2*time.Minute, time.Second, metric+sel+" sampled after "+since.Format(time.TimeOnly), func() error {
			vals, err := e.prom.query(metric + sel)
			if err != nil {
				return err
			}
			if len(vals) != 1 {
				return fmt.Errorf("%d series: %v", len(vals), vals)
			}
			v := vals[0].Value
			switch {
			case metric == "chrony_up" && v != 1:
				return fmt.Errorf("chrony_up = %g", v)
			case metric != "chrony_up" && !(v > 0 && v < 1):
				return fmt.Errorf("%s = %g, want a finite error below 1 s from a synced chronyd", metric, v)
			}
			// timestamp() of a plain selector is the sample's own time.
			ts, err := e.prom.query("timestamp(" + metric + sel + ")")
			if err != nil {
				return err
			}
			if len(ts) != 1 || ts[0].Value < float64(since.Unix()) {
				return fmt.Errorf("last sample %v, before %s", ts, since.Format(time.TimeOnly))
			}
			return nil
		}, desc)
	}
}

// Kustomize: the Helm release gone, `kubectl apply -k deploy/kubernetes`
// (kustomize build, server-side apply): the plain manifests' pod is Ready
// and read.
func testKustomize(t *testing.T, e *env) {
	uninstall := action.NewUninstall(e.helmConfig(t))
	uninstall.WaitStrategy = kube.StatusWatcherStrategy
	uninstall.Timeout = 2 * time.Minute
	if _, err := uninstall.Run(releaseName); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	e.waitNoPods(t, collectorSelector)
	applied := time.Now()
	objs := kustomizeBuild(t, filepath.Join(e.root, "deploy", "kubernetes"))
	// The admission policy comes with the plain manifests; the API server
	// has it already (applied beside the namespace, as for Helm), so it
	// decides on this DaemonSet's pod from the start.
	for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		if o := find(t, objs, kind, podPolicy); o.GetNamespace() != "" {
			t.Errorf("kustomize put the cluster-scoped %s in namespace %s", kind, o.GetNamespace())
		}
	}
	e.apply(t, objs)
	pod := e.readyPod(t, kustomizeSelector, 2*time.Minute)
	if !pod.Spec.HostNetwork {
		t.Fatalf("the base DaemonSet's pod is not on the host network")
	}
	e.checkScrapedSince(t, kustomizeSelector, applied)
	t.Logf("kubectl apply -k deploy/kubernetes: %s admitted under the admission policy, Ready and read in %s", pod.Name, time.Since(applied).Round(time.Second))
	privileged := *e.daemonSet(t).Spec.Template.Spec.DeepCopy()
	yes := true
	privileged.Containers[0].SecurityContext.Privileged, privileged.Containers[0].SecurityContext.AllowPrivilegeEscalation = &yes, &yes
	e.refused(t, "kustomize-privileged", privileged, "privileged container refused in namespace otelcol-chrony (otelcol-chrony)")
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

const kustomizeSelector = "app.kubernetes.io/name=otelcol-chrony"

func (e *env) waitNoPods(t *testing.T, selector string) {
	t.Helper()
	ctx := mustContext(t)
	waitUntil(t, 2*time.Minute, time.Second, "no pods for "+selector, func() error {
		pods, err := e.cluster.Client.CoreV1().Pods(e.namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		if n := len(pods.Items); n > 0 {
			return fmt.Errorf("%d pods left", n)
		}
		return nil
	}, e.describe(selector))
}

// checkScrapedSince waits for chrony_up 1 and a finite error bound scraped
// after since, from the node's name.
func (e *env) checkScrapedSince(t *testing.T, selector string, since time.Time) {
	t.Helper()
	e.checkFresh(t, fmt.Sprintf(`{k8s_node_name=%q,job="otelcol-chrony"}`, kubecluster.NodeName), since, e.describe(selector))
}

// KustomizeUnixSocket: overlays/unix-socket with the values its comment
// says to set for the node (chronyd's user's UID and GID, here _chrony),
// and the lab chronyd's socket directory at /run/chrony: the pod, on the pod
// network, runs as that user, is Ready, and reads chronyd over the socket.
func testKustomizeUnixSocket(t *testing.T, e *env) {
	ctx := mustContext(t)
	chronyUser := e.lab.User
	if chronyUser == "" {
		t.Fatal("the lab chronyd runs as root: the overlay's point is a non-root chronyd user")
	}
	u, err := user.Lookup(chronyUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.ParseInt(u.Uid, 10, 64)
	gid, _ := strconv.ParseInt(u.Gid, 10, 64)

	if err := e.cluster.Client.AppsV1().DaemonSets(e.namespace).Delete(ctx, "otelcol-chrony", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	e.waitNoPods(t, kustomizeSelector)

	objs := kustomizeBuild(t, filepath.Join(e.root, "deploy", "kubernetes", "overlays", "unix-socket"))
	ds := find(t, objs, "DaemonSet", "otelcol-chrony")
	for path, v := range map[string]int64{"runAsUser": uid, "runAsGroup": gid} {
		if err := unstructured.SetNestedField(ds.Object, v, "spec", "template", "spec", "securityContext", path); err != nil {
			t.Fatal(err)
		}
	}
	// chronyd replies to the path the client bound its socket to, in
	// chronyd's own mount namespace: the directory must be at the same path
	// on the host as in the pod, /run/chrony, as it is on a node.
	if exists("/run/chrony") {
		t.Fatal("/run/chrony exists on this machine: a chronyd of its own is running, and the test would hide its sockets")
	}
	if err := e.cluster.BindMount(e.lab.RunDir(), "/run/chrony"); err != nil {
		t.Fatal(err)
	}
	applied := time.Now()
	e.apply(t, objs)
	pod := e.readyPod(t, kustomizeSelector, 2*time.Minute)
	if pod.Spec.HostNetwork || pod.Status.PodIP == "" || pod.Status.PodIP == kubecluster.NodeIP {
		t.Fatalf("the unix-socket pod: hostNetwork %v, pod IP %q", pod.Spec.HostNetwork, pod.Status.PodIP)
	}
	ctr, err := e.cluster.Container(ctx, pod, pod.Spec.Containers[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", ctr.PID))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "Uid:" || f[0] == "Gid:") {
			want := u.Uid
			if f[0] == "Gid:" {
				want = u.Gid
			}
			if f[1] != want {
				t.Errorf("the collector runs with %s %s, want %s's %s", f[0], f[1], chronyUser, want)
			}
		}
	}
	// Admitted under the admission policy with its one host path; any other
	// is refused.
	hostPath := ""
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil {
			hostPath = v.HostPath.Path
		}
	}
	if hostPath != "/run/chrony" {
		t.Errorf("the unix-socket pod mounts host path %q, want /run/chrony", hostPath)
	}
	other := *e.daemonSet(t).Spec.Template.Spec.DeepCopy()
	for i := range other.Volumes {
		if other.Volumes[i].HostPath != nil {
			other.Volumes[i].HostPath.Path = "/run"
		}
	}
	e.refused(t, "unix-socket-run", other, "hostPath volume refused in namespace otelcol-chrony (chrony-run: /run)")
	e.prom.setTargets(t, pod.Status.PodIP+":9464")
	e.checkScrapedSince(t, kustomizeSelector, applied)
	t.Logf("the unix-socket pod at %s runs as %s (%d:%d) and reads chronyd through /run/chrony/chronyd.sock", pod.Status.PodIP, chronyUser, uid, gid)
}
