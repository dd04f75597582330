package transport

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// replySocketMode lets chronyd, which runs as its own user, write replies.
const replySocketMode = 0o666

const (
	replyPrefix = "otelcol-chrony."
	replySuffix = ".sock"
)

func defaultReplyDir(ep Endpoint) string { return filepath.Dir(ep.Address) }

// replySocket is the file a unix connection receives replies at.
type replySocket struct {
	path string
}

// dialUnix makes a reply socket in dir connected to chronyd's socket.
//
// The reply directory is usually chronyd's own, writable by chronyd's user,
// and the collector often runs as root, so everything done by path there is
// done against someone who can rename files under our feet:
//   - the socket is connected before it is bound, so from the moment its
//     file exists the kernel refuses datagrams from anyone but chronyd;
//   - it is made writable for chronyd through a handle opened without
//     following links and checked to be a socket of ours, never by name.
func dialUnix(ep Endpoint, dir string) (*replySocket, *net.UnixConn, error) {
	st, err := os.Stat(ep.Address)
	if err != nil {
		return nil, nil, fmt.Errorf("chronyd's socket at %s: %w", ep, err)
	}
	if st.Mode()&fs.ModeSocket == 0 {
		return nil, nil, fmt.Errorf("chronyd's socket at %s: %s is not a socket but %s", ep, ep.Address, describeMode(st.Mode()))
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("reply socket directory %s for chronyd at %s: %w", dir, ep, err)
	} else if !st.IsDir() {
		return nil, nil, fmt.Errorf("reply socket directory %s for chronyd at %s: not a directory but %s", dir, ep, describeMode(st.Mode()))
	}
	removeStaleReplySockets(dir)
	for range 4 {
		path := filepath.Join(dir, replyName())
		rs, conn, err := bindConnected(ep, path)
		if errors.Is(err, unix.EADDRINUSE) {
			// Somebody else's file: leave it alone and take another name.
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return rs, conn, nil
	}
	return nil, nil, fmt.Errorf("bind reply socket in %s for chronyd at %s: every name tried was taken", dir, ep)
}

func replyName() string {
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	return replyPrefix + strconv.Itoa(os.Getpid()) + "." + hex.EncodeToString(suffix[:]) + replySuffix
}

// Errors name the reply socket's file, which is new for every attempt: their
// reason names the pattern instead.
func bindConnected(ep Endpoint, path string) (_ *replySocket, _ *net.UnixConn, err error) {
	defer func() { err = maskReplySocket(err, path) }()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("reply socket for chronyd at %s: %w", ep, err)
	}
	closeFD := func() { _ = unix.Close(fd) }
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: ep.Address}); err != nil {
		closeFD()
		if errors.Is(err, unix.ECONNREFUSED) {
			return nil, nil, fmt.Errorf("connect to chronyd at %s: %w (the socket file is there, but no chronyd reads it)", ep, err)
		}
		return nil, nil, fmt.Errorf("connect to chronyd at %s: %w", ep, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		closeFD()
		if errors.Is(err, unix.EADDRINUSE) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("bind reply socket %s for chronyd at %s: %w", path, ep, err)
	}
	rs := &replySocket{path: path}
	if err := rs.makeWritable(); err != nil {
		// The file at path may not be ours any more: close, remove nothing.
		closeFD()
		return nil, nil, fmt.Errorf("make reply socket writable for chronyd at %s: %w", ep, err)
	}
	drain(fd)
	f := os.NewFile(uintptr(fd), path)
	conn, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		_ = rs.remove()
		return nil, nil, fmt.Errorf("reply socket %s: %w", path, err)
	}
	return rs, conn.(*net.UnixConn), nil
}

// makeWritable chmods the socket through an O_PATH handle that did not follow
// a link and is a socket owned by us with one name: a symlink or another
// file renamed over the path between bind and here is refused, not chmodded.
func (rs *replySocket) makeWritable() error {
	// With O_PATH, O_NOFOLLOW opens a symlink itself, which the check refuses.
	h, err := unix.Open(rs.path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", rs.path, err)
	}
	defer unix.Close(h)
	if err := checkOwnSocket(h, rs.path); err != nil {
		return err
	}
	if err := unix.Chmod("/proc/self/fd/"+strconv.Itoa(h), replySocketMode); err != nil {
		return fmt.Errorf("chmod %s through /proc/self/fd: %w", rs.path, err)
	}
	return nil
}

func checkOwnSocket(h int, path string) error {
	var st unix.Stat_t
	if err := unix.Fstat(h, &st); err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("%s was replaced by a symbolic link right after bind: refusing to touch it", path)
	case st.Mode&unix.S_IFMT != unix.S_IFSOCK:
		return fmt.Errorf("%s was replaced by a file that is not a socket right after bind: refusing to touch it", path)
	case st.Uid != uint32(os.Geteuid()):
		return fmt.Errorf("%s was replaced by a socket of user %d right after bind: refusing to touch it", path, st.Uid)
	case st.Nlink == 0:
		return fmt.Errorf("%s was replaced right after bind (our socket has no name any more): refusing to touch it", path)
	case st.Nlink != 1:
		return fmt.Errorf("%s has %d names (a hard link was made to it): refusing to touch it", path, st.Nlink)
	}
	return nil
}

// drain throws away anything queued before the first request. Connected
// before bind, the socket can only have chronyd's datagrams; this keeps a
// reply to nothing from being read as one.
func drain(fd int) {
	var buf [maxPacket]byte
	for {
		if _, _, err := unix.Recvfrom(fd, buf[:], unix.MSG_DONTWAIT); err != nil {
			return
		}
	}
}

// remove deletes the reply socket file if it still is a socket of ours.
func (rs *replySocket) remove() error {
	var st unix.Stat_t
	if err := unix.Lstat(rs.path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("remove reply socket %s: %w", rs.path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Uid != uint32(os.Geteuid()) {
		return nil
	}
	if err := os.Remove(rs.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove reply socket %s: %w", rs.path, err)
	}
	return nil
}

// removeStaleReplySockets removes reply sockets that a collector killed
// without its clean-up (SIGKILL, OOM) left in dir: only files named as ours,
// that are sockets, owned by our user, and that no process holds. A socket
// someone holds either accepts a connect or, connected to chronyd, refuses it
// with EPERM; only a socket nobody holds answers ECONNREFUSED. That test
// works across PID namespaces, where a process id in the name does not.
func removeStaleReplySockets(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, replyPrefix) || !strings.HasSuffix(name, replySuffix) || e.Type()&fs.ModeSocket == 0 {
			continue
		}
		path := filepath.Join(dir, name)
		var st unix.Stat_t
		if unix.Lstat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Uid != uint32(os.Geteuid()) {
			continue
		}
		if socketIsHeld(path) {
			continue
		}
		_ = os.Remove(path)
	}
}

func socketIsHeld(path string) bool {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	return !errors.Is(unix.Connect(fd, &unix.SockaddrUnix{Name: path}), unix.ECONNREFUSED)
}
