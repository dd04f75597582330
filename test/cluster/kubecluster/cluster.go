// Package kubecluster starts a single-node Kubernetes cluster on this
// machine for tests: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and a kubelet built from Go modules (make test-cluster),
// containerd and runc from Debian's packages, the bridge CNI plugin, and
// images imported from files, since no registry is reachable. Everything
// listens on loopback or on an address the harness puts on the loopback
// interface, so no traffic leaves the machine. Stop puts the host back as it
// was: processes, mounts, cgroups, network devices, kernel settings and the
// directories the components create at fixed places.
package kubecluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	// NodeName is the one node's name.
	NodeName = "otelcol-chrony-test"
	// NodeIP is the node's address: the kubelet refuses a loopback address,
	// so the harness adds this one (from the benchmarking range, RFC 2544) to
	// the loopback interface, where nothing sent to it leaves the machine.
	// hostNetwork pods listen on it.
	NodeIP = "198.18.0.10"
	// PodSubnet is the bridge's pod network, local to the bridge. Pods have
	// a route to it and to NodeIP only: no default route, nothing to send
	// off the machine.
	PodSubnet = "10.244.0.0/24"
	// PauseImage is the pod sandbox image the harness builds.
	PauseImage = "localhost/otelcol-chrony-test/pause:1"

	bridgeName = "ochr0"
	cgroupRoot = "otelcol-chrony-test"
)

// Options say where the programs are and what to import.
type Options struct {
	// BinDir holds kube-apiserver, kube-controller-manager, kube-scheduler,
	// kubelet, etcd and pause (make test-cluster builds them).
	BinDir string
	// Logf reports progress and what teardown restored.
	Logf func(format string, args ...any)
}

// Cluster is a running cluster.
type Cluster struct {
	Dir        string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	// PodLogsDir is the kubelet's podLogsDir: <ns>_<pod>_<uid>/<container>/<n>.log.
	PodLogsDir string
	// ContainerdSocket is the CRI endpoint.
	ContainerdSocket string

	opts       Options
	logf       func(string, ...any)
	sysctls    map[string]string
	dirsBefore map[string]bool
	procs      []*process
	undo       []func() error
	onStop     []func()
	stopOnce   sync.Once
	stopErr    error
	sigStop    chan struct{}
}

type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// Start brings the cluster up to a Ready node. On an error it has already
// undone what it did. Stop must be called otherwise, also when a test fails;
// SIGINT and SIGTERM stop it too.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the cluster needs root: the kubelet and containerd manage cgroups, mounts and network namespaces")
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	dir, err := os.MkdirTemp("", "occ-") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: dir, opts: opts, logf: logf, dirsBefore: map[string]bool{}, sigStop: make(chan struct{})}
	c.undo = append(c.undo, func() error { return os.RemoveAll(dir) })
	defer func() {
		if err != nil {
			if stopErr := c.Stop(); stopErr != nil {
				logf("tearing down after a failed start: %v", stopErr)
			}
			c = nil
		}
	}()
	c.handleSignals()

	if c.sysctls, err = readSysctls(); err != nil {
		return c, err
	}
	for _, d := range hostDirs {
		c.dirsBefore[d] = exists(d)
	}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "etcd", "pause"} {
		if _, err := os.Stat(filepath.Join(opts.BinDir, b)); err != nil {
			return c, fmt.Errorf("%s is not in %s (make test-cluster builds it): %w", b, opts.BinDir, err)
		}
	}
	for _, p := range []string{"containerd", "ctr", "runc", "ip"} {
		if _, err := exec.LookPath(p); err != nil {
			return c, fmt.Errorf("%s is not installed (scripts/install-deps.sh containerd runc containernetworking-plugins): %w", p, err)
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			return c, fmt.Errorf("the CNI plugin %s is not in /usr/lib/cni (Debian's containernetworking-plugins): %w", p, err)
		}
	}

	if err := c.addNodeAddress(); err != nil {
		return c, err
	}
	pki, err := newPKI(filepath.Join(dir, "pki"))
	if err != nil {
		return c, err
	}
	etcdURL, err := c.startEtcd()
	if err != nil {
		return c, err
	}
	apiURL, err := c.startAPIServer(ctx, pki, etcdURL)
	if err != nil {
		return c, err
	}
	if err := c.startControllers(pki, apiURL); err != nil {
		return c, err
	}
	if err := c.startContainerd(ctx); err != nil {
		return c, err
	}
	if err := c.importPause(ctx); err != nil {
		return c, err
	}
	if err := c.startKubelet(ctx, pki, apiURL); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) handleSignals() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		select {
		case sig := <-sigs:
			// Also when a teardown is under way already: Stop waits for
			// it, and the signal must not end the process halfway through.
			c.logf("%v: stopping the cluster", sig)
			if err := c.Stop(); err != nil {
				c.logf("stopping the cluster: %v", err)
			}
			os.Exit(2)
		case <-c.sigStop:
			signal.Stop(sigs)
		}
	}()
}

func (c *Cluster) addNodeAddress() error {
	out, err := exec.Command("ip", "-o", "addr", "show", "dev", "lo").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip addr show dev lo: %w: %s", err, out)
	}
	if !strings.Contains(string(out), " "+NodeIP+"/") {
		if out, err := exec.Command("ip", "addr", "add", NodeIP+"/32", "dev", "lo").CombinedOutput(); err != nil {
			return fmt.Errorf("adding the node's address %s to lo: %w: %s", NodeIP, err, out)
		}
	}
	c.undo = append(c.undo, func() error {
		if out, err := exec.Command("ip", "addr", "del", NodeIP+"/32", "dev", "lo").CombinedOutput(); err != nil {
			return fmt.Errorf("removing %s from lo: %w: %s", NodeIP, err, out)
		}
		return nil
	})
	return nil
}

// spawn starts a program in its own process group, its output in
// <dir>/logs/<name>.log; Stop ends it.
func (c *Cluster) spawn(name, bin string, args ...string) (*process, error) {
	logDir := filepath.Join(c.Dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, name+".log")
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	// Killed with the test binary, whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	c.procs = append(c.procs, p)
	return p, nil
}

// stopProcess sends SIGTERM, then SIGKILL after grace.
func stopProcess(p *process, grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// LogTail is the end of a component's log (etcd, kube-apiserver, kubelet,
// containerd, ...), for failure messages.
func (c *Cluster) LogTail(name string, lines int) string {
	return tailFile(filepath.Join(c.Dir, "logs", name+".log"), lines)
}

func tailFile(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

func (c *Cluster) exited(p *process) error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); its log ends:\n%s", p.name, p.cmd.ProcessState, tailFile(p.log, 30))
	default:
		return nil
	}
}

// waitFor polls cond until it holds, p exits, or timeout.
func (c *Cluster) waitFor(ctx context.Context, p *process, timeout time.Duration, what string, cond func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = cond(); last == nil {
			return nil
		}
		if p != nil {
			if err := c.exited(p); err != nil {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("%s not ready after %s: %v", what, timeout, last)
			if p != nil {
				msg += "\n" + p.name + "'s log ends:\n" + tailFile(p.log, 30)
			}
			return errors.New(msg)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) startEtcd() (string, error) {
	client, err := freePort()
	if err != nil {
		return "", err
	}
	peer, err := freePort()
	if err != nil {
		return "", err
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	p, err := c.spawn("etcd", filepath.Join(c.opts.BinDir, "etcd"),
		"--name=test", "--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=test="+peerURL, "--listen-metrics-urls=",
		// A test cluster's data need not survive a power cut.
		"--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return "", err
	}
	return clientURL, c.waitFor(context.Background(), p, 30*time.Second, "etcd", func() error {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", client), time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	})
}

func (c *Cluster) startAPIServer(ctx context.Context, pki *pki, etcdURL string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	serving, servingKey, err := pki.issue("apiserver", "kube-apiserver", nil,
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1"), net.ParseIP(NodeIP)},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"})
	if err != nil {
		return "", err
	}
	kubeletClient, kubeletClientKey, err := pki.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil)
	if err != nil {
		return "", err
	}
	saPub, saKey, err := pki.serviceAccountKey()
	if err != nil {
		return "", err
	}
	apiURL := fmt.Sprintf("https://127.0.0.1:%d", port)
	p, err := c.spawn("kube-apiserver", filepath.Join(c.opts.BinDir, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		// A loopback advertise address would make the endpoint reconciler
		// write an invalid "kubernetes" Endpoints object over and over.
		"--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(c.Dir, "apiserver"),
		"--tls-cert-file="+serving, "--tls-private-key-file="+servingKey,
		"--client-ca-file="+pki.CAFile,
		"--kubelet-client-certificate="+kubeletClient, "--kubelet-client-key="+kubeletClientKey,
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saPub, "--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range=10.96.0.0/24",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		// Pod Security admission decides, as on AKS.
		"--allow-privileged=true",
		"--profiling=false")
	if err != nil {
		return "", err
	}
	admin, adminKey, err := pki.issue("admin", "admin", []string{"system:masters"}, nil, nil)
	if err != nil {
		return "", err
	}
	c.Config = &rest.Config{Host: apiURL, TLSClientConfig: rest.TLSClientConfig{CAFile: pki.CAFile, CertFile: admin, KeyFile: adminKey}, QPS: 50, Burst: 100}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return "", err
	}
	c.Kubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, apiURL, pki.CAFile, admin, adminKey); err != nil {
		return "", err
	}
	return apiURL, c.waitFor(ctx, p, 90*time.Second, "kube-apiserver", func() error {
		b, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%w: %s", err, b)
		}
		return nil
	})
}

func writeKubeconfig(path, server, ca, cert, key string) error {
	conf := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: user
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: test
  context: {cluster: test, user: user}
current-context: test
`, server, ca, cert, key)
	return os.WriteFile(path, []byte(conf), 0o600)
}

func (c *Cluster) startControllers(pki *pki, apiURL string) error {
	cm, cmKey, err := pki.issue("controller-manager", "system:kube-controller-manager", nil, nil, nil)
	if err != nil {
		return err
	}
	cmConf := filepath.Join(c.Dir, "controller-manager.kubeconfig")
	if err := writeKubeconfig(cmConf, apiURL, pki.CAFile, cm, cmKey); err != nil {
		return err
	}
	if _, err := c.spawn("kube-controller-manager", filepath.Join(c.opts.BinDir, "kube-controller-manager"),
		"--kubeconfig="+cmConf, "--leader-elect=false",
		// Without it the node keeps its not-ready taint: the node lifecycle
		// controller's own identity lacks the rights to clear it.
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+filepath.Join(c.Dir, "pki", "sa.key"),
		"--root-ca-file="+pki.CAFile,
		"--bind-address=127.0.0.1", "--secure-port=0",
		"--cert-dir="+filepath.Join(c.Dir, "controller-manager")); err != nil {
		return err
	}
	sched, schedKey, err := pki.issue("scheduler", "system:kube-scheduler", nil, nil, nil)
	if err != nil {
		return err
	}
	schedConf := filepath.Join(c.Dir, "scheduler.kubeconfig")
	if err := writeKubeconfig(schedConf, apiURL, pki.CAFile, sched, schedKey); err != nil {
		return err
	}
	_, err = c.spawn("kube-scheduler", filepath.Join(c.opts.BinDir, "kube-scheduler"),
		"--kubeconfig="+schedConf, "--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port=0")
	return err
}

func (c *Cluster) startContainerd(ctx context.Context) error {
	base := filepath.Join(c.Dir, "containerd")
	cniConf := filepath.Join(c.Dir, "cni", "net.d")
	if err := os.MkdirAll(cniConf, 0o755); err != nil {
		return err
	}
	c.ContainerdSocket = filepath.Join(base, "containerd.sock")
	conflist := fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "otelcol-chrony-test",
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "%s/32"}], "dataDir": %q}
  }]
}
`, bridgeName, PodSubnet, NodeIP, filepath.Join(c.Dir, "cni", "ipam"))
	if err := os.WriteFile(filepath.Join(cniConf, "10-bridge.conflist"), []byte(conflist), 0o644); err != nil {
		return err
	}
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
# Plugins that would write outside the test's directory or are not used.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # This VM's capability bounding set lacks CAP_SYS_RESOURCE: runc could not
  # give the sandbox its negative oom_score_adj, and every sandbox would fail.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, filepath.Join(base, "root"), filepath.Join(base, "state"), c.ContainerdSocket, c.ContainerdSocket+".ttrpc", PauseImage, cniConf)
	confPath := filepath.Join(c.Dir, "containerd.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	p, err := c.spawn("containerd", "containerd", "--config", confPath)
	if err != nil {
		return err
	}
	return c.waitFor(ctx, p, 30*time.Second, "containerd", func() error {
		_, err := c.ctr(ctx, "version")
		return err
	})
}

// ctr runs containerd's ctr against the cluster's containerd, in the
// namespace the CRI plugin uses.
func (c *Cluster) ctr(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", c.ContainerdSocket, "--namespace", "k8s.io"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (c *Cluster) startKubelet(ctx context.Context, pki *pki, apiURL string) error {
	cert, key, err := pki.issue("kubelet", "system:node:"+NodeName, []string{"system:nodes"}, nil, nil)
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(c.Dir, "kubelet.kubeconfig")
	if err := writeKubeconfig(kubeconfig, apiURL, pki.CAFile, cert, key); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	healthz, err := freePort()
	if err != nil {
		return err
	}
	if err := makeCgroupRoot(cgroupRoot); err != nil {
		return err
	}
	c.PodLogsDir = filepath.Join(c.Dir, "pod-logs")
	conf := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://%s
cgroupDriver: cgroupfs
# Every pod's cgroup below one directory of the harness's own.
cgroupRoot: /%s
failSwapOn: false
# Otherwise the kubelet adds KUBE-FIREWALL rules to the host's INPUT and OUTPUT.
makeIPTablesUtilChains: false
podLogsDir: %q
volumePluginDir: %q
resolvConf: /etc/resolv.conf
# A small test disk must not evict the pods or their images.
evictionHard: {memory.available: "50Mi", nodefs.available: "1%%", nodefs.inodesFree: "1%%", imagefs.available: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
`, NodeIP, port, healthz, pki.CAFile, c.ContainerdSocket, cgroupRoot, c.PodLogsDir, filepath.Join(c.Dir, "volume-plugins"))
	confPath := filepath.Join(c.Dir, "kubelet.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	p, err := c.spawn("kubelet", filepath.Join(c.opts.BinDir, "kubelet"),
		"--config="+confPath, "--kubeconfig="+kubeconfig,
		"--root-dir="+filepath.Join(c.Dir, "kubelet"), "--cert-dir="+filepath.Join(c.Dir, "kubelet-pki"),
		"--hostname-override="+NodeName, "--node-ip="+NodeIP, "--v=1")
	if err != nil {
		return err
	}
	return c.waitFor(ctx, p, 120*time.Second, "the node", func() error {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				if cond.Status != corev1.ConditionTrue {
					return fmt.Errorf("node Ready is %s: %s", cond.Status, cond.Message)
				}
				for _, t := range n.Spec.Taints {
					if t.Key == "node.kubernetes.io/not-ready" {
						return errors.New("the node still has its not-ready taint")
					}
				}
				return nil
			}
		}
		return errors.New("the node has no Ready condition yet")
	})
}

// OnStop runs f first when the cluster stops, also on SIGINT or SIGTERM,
// where the test's own clean-ups do not run: for processes of the test that
// outlive it otherwise (a chronyd that dropped its privileges no longer gets
// its parent-death signal).
func (c *Cluster) OnStop(f func()) { c.onStop = append(c.onStop, f) }

// Stop ends every process the harness started and restores the host; it is
// safe to call more than once and reports what it could not undo.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	// Signals stay caught until the host is restored.
	defer close(c.sigStop)
	for i := len(c.onStop) - 1; i >= 0; i-- {
		c.onStop[i]()
	}
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	byName := map[string]*process{}
	for _, p := range c.procs {
		byName[p.name] = p
	}
	// Pods first, through the API, while the kubelet still runs: it tears
	// down their sandboxes and the CNI plugin their network namespaces.
	if c.Client != nil && byName["kubelet"] != nil {
		if err := c.deleteAllPods(ctx); err != nil {
			c.logf("teardown: %v", err)
		}
	}
	if p := byName["kubelet"]; p != nil {
		stopProcess(p, 15*time.Second)
	}
	// Whatever is left (the kubelet gave up, or was killed) goes through the
	// CRI, which still runs the CNI teardown.
	if p := byName["containerd"]; p != nil && c.exited(p) == nil {
		if err := c.removeAllSandboxes(ctx); err != nil {
			errs = append(errs, err)
		}
		stopProcess(p, 15*time.Second)
	}
	if err := c.killShims(); err != nil {
		errs = append(errs, err)
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		stopProcess(c.procs[i], 15*time.Second)
	}
	prefixes := []string{c.Dir}
	for _, d := range hostDirs {
		if !c.dirsBefore[d] {
			prefixes = append(prefixes, d)
		}
	}
	if err := unmountAll(prefixes...); err != nil {
		errs = append(errs, err)
	}
	if err := removeNetnsMounts(); err != nil {
		errs = append(errs, err)
	}
	if exists("/sys/class/net/" + bridgeName) {
		if out, err := exec.Command("ip", "link", "del", bridgeName).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("removing the bridge %s: %w: %s", bridgeName, err, out))
		}
	}
	if err := removeCgroupRoot(cgroupRoot); err != nil {
		errs = append(errs, err)
	}
	if c.sysctls != nil {
		changed, err := restoreSysctls(c.sysctls)
		if err != nil {
			errs = append(errs, err)
		}
		if len(changed) > 0 {
			c.logf("teardown restored %s", strings.Join(changed, ", "))
		}
	}
	for d, was := range c.dirsBefore {
		if !was && exists(d) {
			if err := os.RemoveAll(d); err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", d, err))
			}
		}
	}
	for i := len(c.undo) - 1; i >= 0; i-- {
		if err := c.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeNetnsMounts unmounts and removes the network namespaces the CNI
// plugin left in /run/netns (named cni-<uuid>).
func removeNetnsMounts() error {
	var errs []error
	for _, dir := range []string{"/run/netns", "/var/run/netns"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "cni-") {
				p := filepath.Join(dir, e.Name())
				_ = syscall.Unmount(p, syscall.MNT_DETACH)
				if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// killShims ends the containerd shims of this cluster's containerd: they
// outlive containerd by design, and are found by its socket address on
// their command line.
func (c *Cluster) killShims() error {
	if c.ContainerdSocket == "" {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		if !strings.Contains(string(b), c.ContainerdSocket) {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("killing shim %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// BindMount makes dir visible at target on the host (creating target when
// it is missing) until Stop, which also undoes it after SIGINT or SIGTERM.
// Tests use it to put a socket directory where a manifest's hostPath looks.
func (c *Cluster) BindMount(dir, target string) error {
	created := false
	if !exists(target) {
		if err := os.Mkdir(target, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", target, err)
		}
		created = true
	}
	if err := syscall.Mount(dir, target, "", syscall.MS_BIND, ""); err != nil {
		if created {
			_ = os.Remove(target)
		}
		return fmt.Errorf("bind-mounting %s on %s: %w", dir, target, err)
	}
	c.undo = append(c.undo, func() error {
		if err := syscall.Unmount(target, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("unmounting %s: %w", target, err)
		}
		if created {
			return os.Remove(target)
		}
		return nil
	})
	return nil
}
