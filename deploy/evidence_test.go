package deploy

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// The evidence CronJobs decode strictly, hold the hardening contract in a
// restricted namespace, and their arguments, with the settings substituted
// as the kubelet does, are a run chrony-evidence accepts: against a store
// without chrony data it fails for that reason, not for a flag.
func TestEvidenceCronJobs(t *testing.T) {
	kinds := map[string]int{}
	settings := map[string]string{}
	var jobs []batchv1.CronJob
	for _, obj := range objects(t, kustomize(t, "kubernetes/evidence")) {
		doc := obj.Doc
		kinds[obj.Kind]++
		switch obj.Kind {
		case "Namespace":
			var o corev1.Namespace
			must(t, strictDecode(doc, &o), obj.Kind)
			if o.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("namespace %s does not enforce the restricted Pod Security Standard", o.Name)
			}
		case "ServiceAccount":
			var o corev1.ServiceAccount
			must(t, strictDecode(doc, &o), obj.Kind)
		case "PersistentVolumeClaim":
			var o corev1.PersistentVolumeClaim
			must(t, strictDecode(doc, &o), obj.Kind)
		case "ConfigMap":
			var o corev1.ConfigMap
			must(t, strictDecode(doc, &o), obj.Kind)
			settings = o.Data
		case "CronJob":
			var o batchv1.CronJob
			must(t, strictDecode(doc, &o), obj.Kind)
			jobs = append(jobs, o)
		default:
			t.Errorf("unexpected object kind %q", obj.Kind)
		}
	}
	if len(jobs) != 2 || kinds["Namespace"] != 1 || kinds["PersistentVolumeClaim"] != 1 || kinds["ConfigMap"] != 1 {
		t.Fatalf("objects rendered: %v", kinds)
	}
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "vector"
		if strings.HasSuffix(r.URL.Path, "query_range") {
			kind = "matrix"
		}
		w.Write([]byte(`{"status":"success","data":{"resultType":"` + kind + `","result":[]}}`))
	}))
	defer empty.Close()
	settings["PROMETHEUS_URL"] = empty.URL
	evidence := testbin.Evidence(t)
	for _, job := range jobs {
		spec := &job.Spec.JobTemplate.Spec.Template.Spec
		where := "CronJob " + job.Name
		checkPodSecurity(t, where, spec)
		if spec.NodeSelector["kubernetes.io/os"] != "linux" {
			t.Errorf("%s: not kept to Linux nodes", where)
		}
		if spec.HostNetwork || (spec.AutomountServiceAccountToken != nil && *spec.AutomountServiceAccountToken) {
			t.Errorf("%s: host network or an API token it does not need", where)
		}
		if job.Spec.TimeZone == nil || *job.Spec.TimeZone != "Etc/UTC" || job.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			t.Errorf("%s: time zone %v, concurrency %s; want Etc/UTC and Forbid (the periods are UTC days)", where, job.Spec.TimeZone, job.Spec.ConcurrencyPolicy)
		}
		c := spec.Containers[0]
		if len(c.Command) != 1 || c.Command[0] != "/chrony-evidence" {
			t.Errorf("%s: command %v", where, c.Command)
		}
		args := expandArgs(t, c.Args, settings)
		args = append(args[:len(args):len(args)], "--out="+t.TempDir()) // the volume
		out, err := exec.Command(evidence, args...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "no chrony_up samples with k8s_cluster_name=\"my-cluster\"") {
			t.Errorf("%s: chrony-evidence %q: %v\n%s", where, args, err, out)
		}
	}
}

// expandArgs substitutes $(VAR) as the kubelet does; an unknown variable
// fails the test (the kubelet would leave it as is).
func expandArgs(t *testing.T, args []string, env map[string]string) []string {
	t.Helper()
	ref := regexp.MustCompile(`\$\(([A-Z_]+)\)`)
	var out []string
	for _, a := range args {
		out = append(out, ref.ReplaceAllStringFunc(a, func(m string) string {
			v, ok := env[m[2:len(m)-1]]
			if !ok {
				t.Errorf("argument %q refers to %s, which the settings do not set", a, m)
			}
			return v
		}))
	}
	return out
}
