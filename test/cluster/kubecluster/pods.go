package kubecluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// deleteAllPods deletes every pod and waits until the kubelet has confirmed
// each one gone.
func (c *Cluster) deleteAllPods(ctx context.Context) error {
	nss, err := c.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing namespaces: %w", err)
	}
	grace := int64(2)
	for _, ns := range nss.Items {
		// Controllers would recreate the pods: the namespace goes with them,
		// except the ones the API server keeps.
		if ns.Name != "default" && !strings.HasPrefix(ns.Name, "kube-") {
			_ = c.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		}
		_ = c.Client.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &grace}, metav1.ListOptions{})
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing pods: %w", err)
		}
		if len(pods.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d pods still there after 90 s", len(pods.Items))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (c *Cluster) cri(ctx context.Context) (runtimeapi.RuntimeServiceClient, func(), error) {
	conn, err := grpc.NewClient("unix://"+c.ContainerdSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to containerd's CRI: %w", err)
	}
	return runtimeapi.NewRuntimeServiceClient(conn), func() { conn.Close() }, nil
}

// removeAllSandboxes stops and removes every pod sandbox through the CRI.
func (c *Cluster) removeAllSandboxes(ctx context.Context) error {
	rt, done, err := c.cri(ctx)
	if err != nil {
		return err
	}
	defer done()
	resp, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("listing sandboxes: %w", err)
	}
	var errs []error
	for _, sb := range resp.Items {
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("stopping sandbox %s (%s): %w", sb.Id, sb.Metadata.GetName(), err))
			continue
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("removing sandbox %s (%s): %w", sb.Id, sb.Metadata.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// ContainerInfo is what the CRI says of a running container: its ID and
// the PID of its first process (for its cgroup).
type ContainerInfo struct {
	ID  string
	PID int
}

// ContainerLog is the kubelet's log file of a container of a pod, read from
// the kubelet's log directory: the API server's log endpoint would look the
// node's name up in DNS.
func (c *Cluster) ContainerLog(pod *corev1.Pod, container string, lines int) string {
	dir := filepath.Join(c.PodLogsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), container)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "--- %s ---\n%s\n", n, tailFile(filepath.Join(dir, n), lines))
	}
	return b.String()
}

// Describe is the state of the pods a selector picks in a namespace, their
// events and their containers' log tails: what a failing test prints.
func (c *Cluster) Describe(ctx context.Context, namespace, selector string) string {
	var b strings.Builder
	pods, err := c.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return fmt.Sprintf("listing pods in %s: %v", namespace, err)
	}
	if len(pods.Items) == 0 {
		fmt.Fprintf(&b, "no pods in %s match %q\n", namespace, selector)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		fmt.Fprintf(&b, "pod %s/%s phase %s node %q podIP %s\n", p.Namespace, p.Name, p.Status.Phase, p.Spec.NodeName, p.Status.PodIP)
		for _, cond := range p.Status.Conditions {
			fmt.Fprintf(&b, "  condition %s=%s %s %s\n", cond.Type, cond.Status, cond.Reason, cond.Message)
		}
		for _, cs := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, "  container %s ready=%v restarts=%d state=%+v last=%+v\n", cs.Name, cs.Ready, cs.RestartCount, cs.State, cs.LastTerminationState)
		}
		for _, ctr := range p.Spec.Containers {
			fmt.Fprintf(&b, "  log of %s:\n%s", ctr.Name, c.ContainerLog(p, ctr.Name, 20))
		}
	}
	evs, err := c.Client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{})
	if err == nil {
		sort.Slice(evs.Items, func(i, j int) bool { return evs.Items[i].LastTimestamp.Before(&evs.Items[j].LastTimestamp) })
		fmt.Fprintf(&b, "events in %s:\n", namespace)
		for _, e := range evs.Items {
			fmt.Fprintf(&b, "  %s %s %s/%s %s: %s (x%d)\n", e.LastTimestamp.Format(time.TimeOnly), e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message, e.Count)
		}
	}
	return b.String()
}

// Container finds a running container of a pod through the CRI.
func (c *Cluster) Container(ctx context.Context, pod *corev1.Pod, name string) (ContainerInfo, error) {
	rt, done, err := c.cri(ctx)
	if err != nil {
		return ContainerInfo{}, err
	}
	defer done()
	resp, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State:         &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
		LabelSelector: map[string]string{"io.kubernetes.pod.uid": string(pod.UID), "io.kubernetes.container.name": name},
	}})
	if err != nil {
		return ContainerInfo{}, fmt.Errorf("listing containers: %w", err)
	}
	if len(resp.Containers) != 1 {
		return ContainerInfo{}, fmt.Errorf("%d running containers named %s in pod %s", len(resp.Containers), name, pod.Name)
	}
	id := resp.Containers[0].Id
	st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		return ContainerInfo{}, fmt.Errorf("status of container %s: %w", id, err)
	}
	var pid int
	if _, err := fmt.Sscanf(pidField(st.Info["info"]), "%d", &pid); err != nil {
		return ContainerInfo{}, fmt.Errorf("no pid in the status of container %s: %w", id, err)
	}
	return ContainerInfo{ID: id, PID: pid}, nil
}

// pidField pulls "pid": N out of containerd's verbose status JSON.
func pidField(info string) string {
	i := strings.Index(info, `"pid":`)
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(info[i+len(`"pid":`):])
}

// WorkingSet is a process's memory cgroup's working set as the kubelet
// reports it (usage minus inactive file pages), and its usage, in bytes.
func WorkingSet(pid int) (workingSet, usage int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" { // cgroup v2
			dir := filepath.Join("/sys/fs/cgroup", parts[2])
			usage, err = readInt(filepath.Join(dir, "memory.current"))
			if err != nil {
				return 0, 0, err
			}
			inactive, err := statField(filepath.Join(dir, "memory.stat"), "inactive_file")
			return max(usage-inactive, 0), usage, err
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			if ctrl == "memory" {
				dir := filepath.Join("/sys/fs/cgroup/memory", parts[2])
				usage, err = readInt(filepath.Join(dir, "memory.usage_in_bytes"))
				if err != nil {
					return 0, 0, err
				}
				inactive, err := statField(filepath.Join(dir, "memory.stat"), "total_inactive_file")
				return max(usage-inactive, 0), usage, err
			}
		}
	}
	return 0, 0, fmt.Errorf("no memory cgroup for pid %d in %s", pid, b)
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var v int64
	_, err = fmt.Sscan(strings.TrimSpace(string(b)), &v)
	return v, err
}

func statField(path, field string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == field {
			var v int64
			_, err := fmt.Sscan(f[1], &v)
			return v, err
		}
	}
	return 0, fmt.Errorf("%s has no %s", path, field)
}
