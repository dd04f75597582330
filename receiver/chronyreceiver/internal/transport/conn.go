package transport

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Options tune a connection; the zero value is what chronyc does.
type Options struct {
	// ReplyDir is where the unix reply socket is bound. chronyd can only answer
	// into a directory it can reach, so the default is the directory of its own
	// socket, as chronyc does.
	ReplyDir string
	// RetryInterval is how long to wait for a UDP reply before sending the
	// request again; it doubles after each try, as in chronyc. Zero means 1s.
	RetryInterval time.Duration
}

// Conn is one open command channel to chronyd. It implements io.ReadWriter for
// github.com/facebook/time/ntp/chrony.Client, which encodes requests and
// decodes replies: Write remembers the request, Read returns only the reply
// that answers it.
type Conn struct {
	ep        Endpoint
	udp       *net.UDPConn
	unix      *net.UnixConn
	replyPath string

	deadline time.Time
	retry    time.Duration

	req      []byte
	reqSeq   uint32
	reqCmd   uint16
	attempts int

	buf [maxPacket]byte

	// Stale counts replies dropped because they answered an earlier request.
	Stale int
}

// maxPacket is larger than any chrony command packet (clients reports are the
// largest, 500 bytes of data after the header).
const maxPacket = 1024

const replySocketMode = 0o666

// Dial opens a channel to chronyd. For the unix socket it binds a uniquely
// named reply socket, which Close removes.
func Dial(ep Endpoint, opts Options) (*Conn, error) {
	c := &Conn{ep: ep, retry: opts.RetryInterval}
	if c.retry <= 0 {
		c.retry = time.Second
	}
	switch ep.Network {
	case UDP:
		raddr, err := net.ResolveUDPAddr("udp", ep.Address)
		if err != nil {
			return nil, fmt.Errorf("resolve chronyd address %s: %w", ep, err)
		}
		conn, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			return nil, fmt.Errorf("dial chronyd at %s: %w", ep, err)
		}
		c.udp = conn
	case Unix:
		// Say plainly when chronyd's socket is missing or out of reach,
		// rather than failing later on the reply socket's directory.
		if _, err := os.Stat(ep.Address); err != nil {
			return nil, fmt.Errorf("chronyd's socket at %s: %w", ep, err)
		}
		if err := c.bindUnix(opts.ReplyDir); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("dial chronyd at %s: unsupported network %q", ep, ep.Network)
	}
	return c, nil
}

// bindUnix binds a reply socket. chronyd sends replies to the sender's bound
// path, so an unbound or abstract socket never hears back, and chronyd runs as
// its own user, so the file must be writable for it.
func (c *Conn) bindUnix(dir string) error {
	if dir == "" {
		dir = filepath.Dir(c.ep.Address)
	}
	for range 4 {
		var suffix [4]byte
		_, _ = rand.Read(suffix[:])
		path := filepath.Join(dir, fmt.Sprintf("otelcol-chrony.%d.%s.sock", os.Getpid(), hex.EncodeToString(suffix[:])))
		conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
		if errors.Is(err, syscall.EADDRINUSE) {
			// Somebody else's file: leave it alone and take another name.
			continue
		}
		if err != nil {
			return fmt.Errorf("bind reply socket in %s for chronyd at %s: %w", dir, c.ep, err)
		}
		c.unix, c.replyPath = conn, path
		if err := os.Chmod(path, replySocketMode); err != nil {
			_ = c.Close()
			return fmt.Errorf("make reply socket %s writable for chronyd: %w", path, err)
		}
		// Connected, the kernel drops datagrams from anyone but chronyd, and a
		// missing or dead chronyd shows up here rather than as a timeout.
		if err := connectUnix(conn, c.ep.Address); err != nil {
			_ = c.Close()
			return fmt.Errorf("connect to chronyd at %s: %w", c.ep, err)
		}
		return nil
	}
	return fmt.Errorf("bind reply socket in %s for chronyd at %s: every name tried was taken", dir, c.ep)
}

// Endpoint is where this connection goes.
func (c *Conn) Endpoint() Endpoint { return c.ep }

// ReplyPath is the unix reply socket's file, empty over UDP.
func (c *Conn) ReplyPath() string { return c.replyPath }

// SetDeadline bounds every later exchange, retries included.
func (c *Conn) SetDeadline(t time.Time) { c.deadline = t }

// Write sends one encoded request and remembers its command and sequence
// number, so that Read can tell its reply from a late one.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) < requestHeaderLen {
		return 0, fmt.Errorf("request of %d bytes is shorter than a chrony header", len(p))
	}
	c.req = append(c.req[:0], p...)
	c.reqCmd = binary.BigEndian.Uint16(p[4:6])
	c.reqSeq = binary.BigEndian.Uint32(p[8:12])
	c.attempts = 0
	if err := c.send(); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *Conn) send() error {
	c.attempts++
	var err error
	if c.udp != nil {
		_, err = c.udp.Write(c.req)
	} else {
		_, err = c.unix.Write(c.req)
	}
	if err != nil {
		return fmt.Errorf("send %s request to chronyd at %s: %w", commandName(c.reqCmd), c.ep, err)
	}
	return nil
}

// Read returns the reply to the last request written. Replies to earlier
// requests are dropped; over UDP a lost request or reply is sent again until
// the deadline.
func (c *Conn) Read(p []byte) (int, error) {
	wait := c.retry
	for {
		n, err := c.readPacket(c.readBy(wait))
		if err != nil {
			if c.shouldResend(err) {
				wait *= 2
				if err := c.send(); err != nil {
					return 0, err
				}
				continue
			}
			return 0, fmt.Errorf("read %s reply from chronyd at %s after %d tries: %w", commandName(c.reqCmd), c.ep, c.attempts, err)
		}
		err = CheckReply(c.buf[:n], c.reqCmd, c.reqSeq)
		if errors.Is(err, ErrStale) {
			c.Stale++
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("%s reply from chronyd at %s: %w", commandName(c.reqCmd), c.ep, err)
		}
		return copy(p, c.buf[:n]), nil
	}
}

// readBy is when to stop waiting for a reply: the deadline, or over UDP the
// moment to send again, whichever comes first.
func (c *Conn) readBy(wait time.Duration) time.Time {
	by := c.deadline
	if c.udp != nil {
		if next := time.Now().Add(wait); by.IsZero() || next.Before(by) {
			by = next
		}
	}
	return by
}

// shouldResend tells a UDP wait that ran out before the deadline (send the
// request again) from a real failure.
func (c *Conn) shouldResend(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && c.udp != nil && (c.deadline.IsZero() || time.Now().Before(c.deadline))
}

func (c *Conn) readPacket(by time.Time) (int, error) {
	if c.udp != nil {
		if err := c.udp.SetReadDeadline(by); err != nil {
			return 0, err
		}
		return c.udp.Read(c.buf[:])
	}
	if err := c.unix.SetReadDeadline(by); err != nil {
		return 0, err
	}
	return c.unix.Read(c.buf[:])
}

func connectUnix(conn *net.UnixConn, path string) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var connectErr error
	if err := raw.Control(func(fd uintptr) {
		connectErr = syscall.Connect(int(fd), &syscall.SockaddrUnix{Name: path})
	}); err != nil {
		return err
	}
	return connectErr
}

// Close closes the socket and removes the reply socket file this connection
// created; it never removes a file it did not bind.
func (c *Conn) Close() error {
	var err error
	if c.udp != nil {
		err = c.udp.Close()
		c.udp = nil
	}
	if c.unix != nil {
		err = c.unix.Close()
		c.unix = nil
		if rmErr := os.Remove(c.replyPath); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("remove reply socket %s: %w", c.replyPath, rmErr))
		}
	}
	return err
}
