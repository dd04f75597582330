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
		"--service-cluster-ip-range=10.96.0.0/16")

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
	// The namespace as the README creates it before helm install.
	if out, err := a.kubectlIn(ns, "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("creating the namespace: %v\n%s", err, out)
	}
	sets := map[string][]byte{}
	for _, dir := range append(kustomizations, "kubernetes/evidence") {
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
	for name, manifest := range sets {
		var toApply [][]byte
		for _, obj := range objects(t, manifest) {
			doc := obj.Doc
			if obj.Kind == "PodMonitor" {
				continue
			}
			switch obj.Kind {
			case "Namespace", "ServiceAccount":
				// Created for real: the other objects (and the pods' dry
				// runs) need them to exist.
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
}
