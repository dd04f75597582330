package deploy

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
)

// apiServerBinDir names the directory where `make test-apiserver` builds
// kube-apiserver (k8s.io/kubernetes v1.37.2) and etcd from Go modules.
const apiServerBinDir = "CHRONYOTEL_APISERVER_BIN"

// apiServer is a real kube-apiserver on etcd, on loopback, for this test.
type apiServer struct {
	kubectl    string
	kubeconfig string
}

func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	bins := os.Getenv(apiServerBinDir)
	if bins == "" {
		t.Skipf("%s is not set: `make test-apiserver` builds kube-apiserver and etcd (about 7 minutes on 2 cores) and runs this test", apiServerBinDir)
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl not found")
	}
	dir := t.TempDir()
	run := func(name string, args ...string) {
		log, _ := os.Create(filepath.Join(dir, name+".log"))
		cmd := exec.Command(filepath.Join(bins, name), args...)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("--- %s log (end) ---\n%s", name, b)
			}
		})
	}
	client, peer, secure := testkit.FreeTCPPort(t), testkit.FreeTCPPort(t), testkit.FreeTCPPort(t)
	run("etcd", "--data-dir="+filepath.Join(dir, "etcd"), "--name=default",
		fmt.Sprintf("--listen-client-urls=http://127.0.0.1:%d", client), fmt.Sprintf("--advertise-client-urls=http://127.0.0.1:%d", client),
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", peer), fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", peer),
		fmt.Sprintf("--initial-cluster=default=http://127.0.0.1:%d", peer))

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	saKey := write("sa.key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	saPub := write("sa.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	tokens := write("tokens.csv", []byte("dry-run-token,admin,admin,system:masters\n"))
	run("kube-apiserver", fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", client), "--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", secure), "--cert-dir="+filepath.Join(dir, "certs"),
		"--service-account-issuer=https://kubernetes.default.svc", "--service-account-key-file="+saPub,
		"--service-account-signing-key-file="+saKey, "--token-auth-file="+tokens, "--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/16",
		// As on AKS: privileged containers pass validation, so that what
		// refuses them is admission (Pod Security, the namespace's policy).
		"--allow-privileged=true")

	url := fmt.Sprintf("https://127.0.0.1:%d", secure)
	httpc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, _ := http.NewRequest(http.MethodGet, url+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer dry-run-token")
		if resp, err := httpc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("kube-apiserver not ready after 2 minutes")
		}
		time.Sleep(500 * time.Millisecond)
	}
	kubeconfig := write("kubeconfig", fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: dry-run-token}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, url))
	return &apiServer{kubectl: kubectl, kubeconfig: kubeconfig}
}

func (a *apiServer) kubectlIn(stdin []byte, args ...string) (string, error) {
	cmd := exec.Command(a.kubectl, append([]string{"--kubeconfig=" + a.kubeconfig}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// podFrom is the Pod a workload's template makes, for the Pod Security
// admission, which enforces on pods, not on the workloads that make them.
func podFrom(namespace, name string, tmpl corev1.PodTemplateSpec) []byte {
	pod := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: tmpl.Labels}, Spec: tmpl.Spec}
	b, _ := yaml.Marshal(pod)
	return b
}

// Every object the plain manifests, the evidence CronJobs and the chart
// render for each values combination is accepted by a real kube-apiserver
// (server-side dry-run, so defaulting, validation and admission run), in
// namespaces created with the labels the README documents. The pods the
// DaemonSet and the CronJobs would create pass the Pod Security admission of
// their namespace, enforced; a DaemonSet pod in the evidence namespace
// (restricted) is refused, which shows the enforcement is on.
// PodMonitors are left out: this API server has no Prometheus Operator CRDs.
func TestServerSideDryRun(t *testing.T) {
	a := startAPIServer(t)
	ns, err := os.ReadFile("kubernetes/base/namespace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The namespace as the README creates it before helm install, and the
	// admission policy beside it.
	if out, err := a.kubectlIn(ns, "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("creating the namespace: %v\n%s", err, out)
	}
	policy, err := os.ReadFile("kubernetes/base/pod-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := a.kubectlIn(policy, "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("creating the admission policy: %v\n%s", err, out)
	}
	a.waitPolicyEnforced(t)
	sets := map[string][]byte{}
	for _, dir := range append(kustomizations, "kubernetes/evidence", "kubernetes/evidence-signed") {
		sets["kustomize "+dir] = kustomize(t, dir)
	}
	for _, v := range helmVariants {
		files := []string{"helm/values.yaml"}
		if v.overlay != "" {
			files = append(files, filepath.Join("helm", v.overlay))
		}
		sets["chart "+strings.Join(files, "+")] = renderChart(t, files...)
	}
	var daemonSetPod []byte
	// The plain manifests' DaemonSets, for the policy's cases below.
	daemonSets := map[string]appsv1.DaemonSet{}
	for name, manifest := range sets {
		var toApply [][]byte
		for _, obj := range objects(t, manifest) {
			doc := obj.Doc
			if obj.Kind == "PodMonitor" {
				continue
			}
			switch obj.Kind {
			case "Namespace", "ServiceAccount", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
				// Created for real: the other objects (and the pods' dry
				// runs) need them to exist. The admission policy is
				// already there, from pod-policy.yaml as the README applies
				// it; applied again by the same manager (a dry run by
				// another would conflict on its atomic match constraints).
				if out, err := a.kubectlIn(doc, "apply", "--server-side", "-f", "-"); err != nil {
					t.Errorf("%s: %s: %v\n%s", name, obj.Kind, err, out)
				}
				continue
			case "DaemonSet":
				var ds appsv1.DaemonSet
				must(t, yaml.Unmarshal(doc, &ds), "DaemonSet")
				pod := podFrom(ds.Namespace, "pod-of-"+ds.Name, ds.Spec.Template)
				toApply = append(toApply, pod)
				// The same pod in the restricted namespace, with that
				// namespace's service account.
				tmpl := *ds.Spec.Template.DeepCopy()
				tmpl.Spec.ServiceAccountName = "chrony-evidence"
				daemonSetPod = podFrom("chrony-evidence", "daemonset-pod", tmpl)
				daemonSets[name] = ds
			case "CronJob":
				var cj batchv1.CronJob
				must(t, yaml.Unmarshal(doc, &cj), "CronJob")
				toApply = append(toApply, podFrom(cj.Namespace, "pod-of-"+cj.Name, cj.Spec.JobTemplate.Spec.Template))
			}
			toApply = append(toApply, doc)
		}
		if out, err := a.kubectlIn(bytes.Join(toApply, []byte("\n---\n")), "apply", "--server-side", "--dry-run=server", "--field-manager=dry-run-test", "-f", "-"); err != nil {
			t.Errorf("%s: the API server refused: %v\n%s", name, err, out)
		} else if strings.Contains(out, "Warning") {
			t.Logf("%s: warnings:\n%s", name, out)
		}
	}
	if daemonSetPod == nil {
		t.Fatal("no DaemonSet rendered")
	}
	out, err := a.kubectlIn(daemonSetPod, "apply", "--server-side", "--dry-run=server", "--field-manager=dry-run-test", "-f", "-")
	if err == nil || !strings.Contains(out, "violates PodSecurity") {
		t.Errorf("a host-network pod in the restricted evidence namespace was not refused by Pod Security: %v\n%s", err, out)
	}
	base, ok := daemonSets["kustomize kubernetes"]
	if !ok {
		t.Fatal("no DaemonSet in kubectl kustomize kubernetes")
	}
	checkPodPolicy(t, a, base)
}

// waitPolicyEnforced waits until the namespace's admission policy refuses a
// DaemonSet asking for hostPID: the API server loads a new policy
// asynchronously. (A DaemonSet, not a pod, which would need the namespace's
// default ServiceAccount, and no controller makes one here.)
func (a *apiServer) waitPolicyEnforced(t *testing.T) {
	t.Helper()
	labels := map[string]string{"app": "policy-probe"}
	probe, _ := yaml.Marshal(appsv1.DaemonSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Name: "policy-probe", Namespace: "otelcol-chrony"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{HostPID: true, Containers: []corev1.Container{{Name: "probe", Image: "ghcr.io/chronyotel/otelcol-chrony:0.1.0"}}}}}})
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := a.kubectlIn(probe, "create", "--dry-run=server", "-f", "-")
		if err != nil && strings.Contains(out, "hostPID refused") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policy does not refuse a hostPID DaemonSet after 30 s: %v\n%s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// policyMessage prefixes every refusal of the namespace's admission policy.
const policyMessage = "ValidatingAdmissionPolicy 'otelcol-chrony-pods' with binding 'otelcol-chrony-pods' denied request: "

// checkPodPolicy: in the otelcol-chrony namespace, which enforces Pod
// Security's "privileged" level for the DaemonSet's host network, the
// admission policy refuses a pod that asks for anything more than the
// DaemonSet's, each with a message that says what and why, and admits what
// the restricted level admits beyond it. The DaemonSet pods of every
// variant passed it above.
func checkPodPolicy(t *testing.T, a *apiServer, ds appsv1.DaemonSet) {
	t.Helper()
	yes, no := true, false
	root := int64(0)
	cases := []struct {
		name   string
		change func(*corev1.PodSpec)
		refuse string // what the message starts with; empty: admitted
	}{
		{"privileged", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Privileged, s.Containers[0].SecurityContext.AllowPrivilegeEscalation = &yes, &yes
		}, "privileged container refused in namespace otelcol-chrony (otelcol-chrony)"},
		{"privileged-init", func(s *corev1.PodSpec) {
			c := s.Containers[0].DeepCopy()
			c.Name, c.LivenessProbe, c.ReadinessProbe, c.Ports = "init", nil, nil, nil
			c.SecurityContext.Privileged, c.SecurityContext.AllowPrivilegeEscalation = &yes, &yes
			s.InitContainers = []corev1.Container{*c}
		}, "privileged container refused in namespace otelcol-chrony (init)"},
		{"hostpid", func(s *corev1.PodSpec) { s.HostPID = true }, "hostPID refused"},
		{"hostipc", func(s *corev1.PodSpec) { s.HostIPC = true }, "hostIPC refused"},
		{"escalation", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil },
			"container without allowPrivilegeEscalation: false refused"},
		{"capability", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_TIME"}
		}, "added capabilities refused in namespace otelcol-chrony (otelcol-chrony: SYS_TIME)"},
		{"capabilities-kept", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.Capabilities = nil },
			"container that does not drop ALL capabilities refused"},
		{"root", func(s *corev1.PodSpec) { s.SecurityContext.RunAsUser = &root }, "runAsUser 0 (root) refused"},
		{"run-as-root-allowed", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.RunAsNonRoot = &no },
			"container without runAsNonRoot: true refused"},
		{"seccomp-unconfined", func(s *corev1.PodSpec) {
			s.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}, "seccomp profile Unconfined, or none, refused"},
		{"seccomp-unset", func(s *corev1.PodSpec) { s.SecurityContext.SeccompProfile = nil }, "seccomp profile Unconfined, or none, refused"},
		{"apparmor-unconfined", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		}, "AppArmor profile Unconfined refused"},
		{"selinux-user", func(s *corev1.PodSpec) { s.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{User: "system_u"} },
			"SELinux user, role or type refused"},
		{"sysctl", func(s *corev1.PodSpec) {
			s.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "kernel.shm_rmid_forced", Value: "1"}}
		}, "sysctls refused in namespace otelcol-chrony (kernel.shm_rmid_forced)"},
		{"hostpath-root", func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		}, "hostPath volume refused in namespace otelcol-chrony (host: /)"},
		{"hostpath-run", func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "run", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run"}}})
		}, "hostPath volume refused in namespace otelcol-chrony (run: /run)"},
		{"nfs", func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "nfs", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.example", Path: "/"}}})
		}, "volume type refused in namespace otelcol-chrony (nfs)"},
		// What the policy admits beyond the DaemonSet: chronyd's socket
		// directory (the unix-socket variant), and what "restricted" admits.
		{"hostpath-chrony", func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "chrony-run", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run/chrony"}}})
		}, ""},
		{"selinux-container-type", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "container_t"}
		}, ""},
		{"emptydir", func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}, ""},
	}
	for _, c := range cases {
		tmpl := *ds.Spec.Template.DeepCopy()
		c.change(&tmpl.Spec)
		out, err := a.kubectlIn(podFrom(ds.Namespace, "policy-"+c.name, tmpl), "create", "--dry-run=server", "-f", "-")
		switch {
		case c.refuse == "" && err != nil:
			t.Errorf("policy: %s: refused: %v\n%s", c.name, err, out)
		case c.refuse != "" && (err == nil || !strings.Contains(out, policyMessage+c.refuse)):
			t.Errorf("policy: %s: want refused with %q: %v\n%s", c.name, c.refuse, err, out)
		}
	}

	// A workload is refused at once, not only its pods.
	bad := *ds.DeepCopy()
	bad.Name, bad.ResourceVersion, bad.UID = "hostpid", "", ""
	bad.Spec.Template.Spec.HostPID = true
	b, _ := yaml.Marshal(bad)
	if out, err := a.kubectlIn(b, "create", "--dry-run=server", "-f", "-"); err == nil || !strings.Contains(out, policyMessage+"hostPID refused") {
		t.Errorf("policy: a DaemonSet asking for hostPID: %v\n%s", err, out)
	}

	// kubectl debug's ephemeral containers: a privileged one is refused, one
	// as restricted as the collector is admitted. The pod is created for
	// real (nothing schedules it here).
	pod := podFrom(ds.Namespace, "policy-debug-target", ds.Spec.Template)
	if out, err := a.kubectlIn(pod, "create", "-f", "-"); err != nil {
		t.Fatalf("policy: creating the DaemonSet's pod: %v\n%s", err, out)
	}
	debug := func(name string, sc string) (string, error) {
		patch := fmt.Sprintf(`{"spec":{"ephemeralContainers":[{"name":%q,"image":"busybox","securityContext":%s}]}}`, name, sc)
		return a.kubectlIn(nil, "-n", ds.Namespace, "patch", "pod", "policy-debug-target", "--subresource=ephemeralcontainers",
			"--type=strategic", "--dry-run=server", "-p", patch)
	}
	if out, err := debug("debug-privileged", `{"privileged":true}`); err == nil || !strings.Contains(out, policyMessage+"privileged container refused in namespace otelcol-chrony (debug-privileged)") {
		t.Errorf("policy: a privileged ephemeral container: %v\n%s", err, out)
	}
	if out, err := debug("debug-restricted", `{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}`); err != nil {
		t.Errorf("policy: an ephemeral container as restricted as the collector: %v\n%s", err, out)
	}
}
