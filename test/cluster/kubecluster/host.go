package kubecluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The kernel settings the kubelet (setupKernelTunables) and the bridge CNI
// plugin (isGateway) change on the host. Each is read before the cluster
// starts and written back after it stops.
var hostSysctls = []string{
	"vm/overcommit_memory",
	"vm/panic_on_oom",
	"kernel/panic",
	"kernel/panic_on_oops",
	"kernel/keys/root_maxkeys",
	"kernel/keys/root_maxbytes",
	"net/ipv4/ip_forward",
	"net/ipv6/conf/all/forwarding",
}

// Directories the kubelet, containerd and the CNI plugins create at fixed
// places whatever they are told; removed after the cluster when they were not
// there before it.
var hostDirs = []string{
	"/var/lib/kubelet",
	"/var/lib/cni",
	"/var/log/pods",
	"/var/log/containers",
	"/run/netns",
	"/run/containerd",
	"/var/run/netns",
}

func readSysctls() (map[string]string, error) {
	vals := map[string]string{}
	for _, k := range hostSysctls {
		b, err := os.ReadFile(filepath.Join("/proc/sys", k))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading sysctl %s: %w", k, err)
		}
		vals[k] = strings.TrimSpace(string(b))
	}
	return vals, nil
}

// restoreSysctls writes back every setting that differs from before and
// returns what it changed, as "name: now -> before".
func restoreSysctls(before map[string]string) ([]string, error) {
	now, err := readSysctls()
	if err != nil {
		return nil, err
	}
	var changed []string
	var errs []error
	for _, k := range hostSysctls {
		b, ok := before[k]
		if !ok || now[k] == b {
			continue
		}
		changed = append(changed, fmt.Sprintf("%s: %s -> %s", strings.ReplaceAll(k, "/", "."), now[k], b))
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(b), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring sysctl %s to %s: %w", k, b, err))
		}
	}
	return changed, errors.Join(errs...)
}

// mountsUnder lists the mount points at or below any of the prefixes, deepest
// first, from /proc/self/mountinfo.
func mountsUnder(prefixes ...string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		for _, p := range prefixes {
			if mp == p || strings.HasPrefix(mp, strings.TrimSuffix(p, "/")+"/") {
				out = append(out, mp)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, sc.Err()
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// unmountAll detaches every mount below the prefixes, deepest first.
func unmountAll(prefixes ...string) error {
	var errs []error
	// A mount point can be stacked; a few rounds take them all.
	for range 5 {
		mps, err := mountsUnder(prefixes...)
		if err != nil {
			return fmt.Errorf("listing mounts: %w", err)
		}
		if len(mps) == 0 {
			return nil
		}
		errs = errs[:0]
		for _, mp := range mps {
			if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", mp, err))
			}
		}
	}
	return errors.Join(errs...)
}

// cgroupHierarchies are the cgroup v1 mounts (and the v2 mount, where there
// is one) under /sys/fs/cgroup.
func cgroupHierarchies() ([]string, error) {
	var out []string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}, nil
	}
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		p := filepath.Join("/sys/fs/cgroup", e.Name())
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() && fi.Mode()&os.ModeSymlink == 0 {
			if _, err := os.Stat(filepath.Join(p, "cgroup.procs")); err == nil {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// makeCgroupRoot creates the cluster's own cgroup (the kubelet's cgroupRoot)
// in every hierarchy, so that every pod's cgroup is below one directory the
// harness removes.
func makeCgroupRoot(name string) error {
	hs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	for _, h := range hs {
		dir := filepath.Join(h, name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
		// cpuset v1 children start empty and take no task until given CPUs.
		if filepath.Base(h) == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(h, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return fmt.Errorf("setting %s of %s: %w", f, dir, err)
				}
			}
		}
	}
	return nil
}

// removeCgroupRoot removes the cluster's cgroups, deepest first, retrying
// while the last processes leave them.
func removeCgroupRoot(name string) error {
	hs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range hs {
		root := filepath.Join(h, name)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		// Whatever still runs in the cluster's cgroups is the cluster's
		// (a container whose shim was killed, say): it goes first.
		killTasks(root)
		var lastErr error
		for range 50 {
			lastErr = removeCgroupTree(root)
			if lastErr == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if lastErr != nil {
			errs = append(errs, lastErr)
		}
	}
	return errors.Join(errs...)
}

func removeCgroupTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("removing cgroup %s: %w", d, err)
		}
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// killTasks kills every process in the cgroup tree at root.
func killTasks(root string) {
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return nil
	})
}
