package deploy

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// The evidence CronJobs decode strictly, hold the hardening contract in a
// restricted namespace, and their arguments, with the settings substituted
// as the kubelet does, are a run chrony-evidence accepts: with the shipped
// container URL it asks for workload identity's settings, which the webhook
// injects into pods of the labelled template; pointed at a container in
// Azurite, against a store without chrony data, it opens the container and
// fails for the data, not for a flag.
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
			if o.Annotations["azure.workload.identity/client-id"] == "" {
				t.Errorf("service account %s has no azure.workload.identity/client-id annotation", o.Name)
			}
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
	if len(jobs) != 2 || kinds["Namespace"] != 1 || kinds["ServiceAccount"] != 1 || kinds["ConfigMap"] != 1 {
		t.Fatalf("objects rendered: %v", kinds)
	}
	empty := emptyStore(t)
	settings["PROMETHEUS_URL"] = empty.URL
	evidence := testbin.Evidence(t)
	shipped := maps.Clone(settings)
	azurite := testkit.StartAzurite(t, testkit.AzuriteOptions{})
	azurite.CreateContainer(t, nil, "chrony-evidence")
	settings["EVIDENCE_URL"] = azurite.URL + "/chrony-evidence"
	noIdentity := []string{"AZURE_CLIENT_ID=", "AZURE_TENANT_ID=", "AZURE_FEDERATED_TOKEN_FILE=", "AZURE_STORAGE_ACCOUNT_KEY="}
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
		if job.Spec.JobTemplate.Spec.Template.Labels["azure.workload.identity/use"] != "true" {
			t.Errorf("%s: the pod template is not labelled for the workload identity webhook", where)
		}
		// The reports go through the Blob API; the only volume is the
		// spool of the synchronisation log, the container's TMPDIR.
		if len(spec.Volumes) != 1 || spec.Volumes[0].EmptyDir == nil || spec.Volumes[0].EmptyDir.SizeLimit == nil {
			t.Errorf("%s: volumes %v; want one emptyDir with a size limit, the spool", where, spec.Volumes)
		} else if c := spec.Containers[0]; len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != spec.Volumes[0].Name || !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
			return e.Name == "TMPDIR" && e.Value == c.VolumeMounts[0].MountPath
		}) {
			t.Errorf("%s: TMPDIR is not the spool's mount (%v, %v)", where, c.VolumeMounts, c.Env)
		}
		c := spec.Containers[0]
		if len(c.Command) != 1 || c.Command[0] != "/chrony-evidence" {
			t.Errorf("%s: command %v", where, c.Command)
		}
		// The shipped settings: the container URL parses, and workload
		// identity is what the run needs next.
		args := expandArgs(t, c.Args, shipped)
		cmd := exec.Command(evidence, args...)
		cmd.Env = append(os.Environ(), noIdentity...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), shipped["EVIDENCE_URL"]+"/my-cluster/") ||
			!strings.Contains(string(out), "storage is reached with workload identity: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE not set") {
			t.Errorf("%s with the shipped settings: chrony-evidence %q: %v\n%s", where, args, err, out)
		}
		// The same arguments into Azurite's container (the emulator's key
		// instead of workload identity).
		args = expandArgs(t, c.Args, settings)
		cmd = exec.Command(evidence, args...)
		cmd.Env = append(os.Environ(), append(noIdentity, "AZURE_STORAGE_ACCOUNT_KEY="+testkit.AzuriteKey)...)
		out, err = cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "no chrony_up samples with k8s_cluster_name=\"my-cluster\"") {
			t.Errorf("%s: chrony-evidence %q: %v\n%s", where, args, err, out)
		}
	}
}

// emptyStore is a query API that holds no series.
func emptyStore(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "vector"
		if strings.HasSuffix(r.URL.Path, "query_range") {
			kind = "matrix"
		}
		w.Write([]byte(`{"status":"success","data":{"resultType":"` + kind + `","result":[]}}`))
	}))
	t.Cleanup(srv.Close)
	return srv
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

// The signed variant is the shipped CronJobs with the key added and nothing
// else changed: the Secret read-only at /keys, readable by the tool's group
// only, and --signing-key in the arguments, which the tool then loads
// before it reads anything (a key that is not there stops it with exit 2;
// a real one lets it go on to the store).
func TestEvidenceSignedCronJobs(t *testing.T) {
	cronJobs := func(dir string) map[string]batchv1.CronJob {
		out := map[string]batchv1.CronJob{}
		for _, obj := range objects(t, kustomize(t, dir)) {
			if obj.Kind == "CronJob" {
				var o batchv1.CronJob
				must(t, strictDecode(obj.Doc, &o), obj.Kind)
				out[o.Name] = o
			}
		}
		return out
	}
	plain, signed := cronJobs("kubernetes/evidence"), cronJobs("kubernetes/evidence-signed")
	if len(signed) != 2 || len(plain) != 2 {
		t.Fatalf("CronJobs: %d signed, %d plain", len(signed), len(plain))
	}
	key, _, _ := testkit.SigningKey(t, t.TempDir())
	azurite := testkit.StartAzurite(t, testkit.AzuriteOptions{})
	azurite.CreateContainer(t, nil, "chrony-evidence")
	empty := emptyStore(t)
	settings := map[string]string{"PROMETHEUS_URL": empty.URL, "CLUSTER": "my-cluster", "PROFILE": "mifid_ii_algo", "EVIDENCE_URL": azurite.URL + "/chrony-evidence"}
	for name, job := range signed {
		where := "CronJob " + name + " (evidence-signed)"
		spec := &job.Spec.JobTemplate.Spec.Template.Spec
		checkPodSecurity(t, where, spec)
		c := &spec.Containers[0]
		var vol *corev1.Volume
		for i := range spec.Volumes {
			if spec.Volumes[i].Name == "signing-key" {
				vol = &spec.Volumes[i]
			}
		}
		sc := spec.SecurityContext
		switch {
		case vol == nil || vol.Secret == nil || vol.Secret.SecretName != "chrony-evidence-signing-key" || vol.Secret.DefaultMode == nil || *vol.Secret.DefaultMode != 0o440:
			t.Errorf("%s: the key's volume %+v; want the Secret chrony-evidence-signing-key, mode 0440", where, vol)
		case !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == "signing-key" && m.MountPath == "/keys" && m.ReadOnly
		}):
			t.Errorf("%s: the key is not mounted read-only at /keys: %+v", where, c.VolumeMounts)
		case sc == nil || sc.FSGroup == nil || sc.RunAsGroup == nil || *sc.FSGroup != *sc.RunAsGroup:
			t.Errorf("%s: fsGroup %v; want the tool's group, which reads the 0440 key", where, sc)
		case c.Args[len(c.Args)-1] != "--signing-key=/keys/key.pem":
			t.Errorf("%s: args %q do not end with --signing-key=/keys/key.pem", where, c.Args)
		}
		// Nothing else differs from the plain CronJob.
		base := plain[name]
		bspec := &base.Spec.JobTemplate.Spec.Template.Spec
		bspec.Volumes = append(bspec.Volumes, *vol)
		bspec.Containers[0].VolumeMounts = append(bspec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "signing-key", MountPath: "/keys", ReadOnly: true})
		bspec.Containers[0].Args = append(bspec.Containers[0].Args, "--signing-key=/keys/key.pem")
		bspec.SecurityContext.FSGroup = sc.FSGroup
		if !equality.Semantic.DeepEqual(base, job) {
			t.Errorf("%s differs from the plain CronJob by more than the key", where)
		}

		env := append(os.Environ(), "AZURE_STORAGE_ACCOUNT_KEY="+testkit.AzuriteKey)
		for _, run := range []struct {
			key  string
			code int
			want string
		}{
			{filepath.Join(t.TempDir(), "absent.pem"), 2, "--signing-key: "},
			{key, 1, "no chrony_up samples with k8s_cluster_name=\"my-cluster\""},
		} {
			args := expandArgs(t, c.Args, settings)
			args[len(args)-1] = "--signing-key=" + run.key
			cmd := exec.Command(testbin.Evidence(t), args...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != run.code || !strings.Contains(string(out), run.want) {
				t.Errorf("%s: chrony-evidence %q: %v, want exit %d with %q\n%s", where, args, err, run.code, run.want, out)
			}
		}
	}
}
