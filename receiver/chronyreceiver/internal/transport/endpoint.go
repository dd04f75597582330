package transport

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// Network is how chronyd's command port is reached.
type Network string

const (
	// Unix is chronyd's unix datagram command socket (full access).
	Unix Network = "unixgram"
	// UDP is chronyd's command port, 323 by default (monitoring reports only).
	UDP Network = "udp"
)

// Endpoint is a parsed `endpoint` setting.
type Endpoint struct {
	Network Network
	// Address is the socket path for Unix, host:port for UDP.
	Address string
	raw     string
}

// DefaultUnixSocket is where Debian, Ubuntu, RHEL and Azure Linux put chronyd's
// command socket, and where chronyc looks first.
const DefaultUnixSocket = "/run/chrony/chronyd.sock"

// ProbeOrder is chronyc's own search order when no host is given.
func ProbeOrder() []Endpoint {
	return []Endpoint{
		{Network: Unix, Address: DefaultUnixSocket, raw: "unix://" + DefaultUnixSocket},
		{Network: UDP, Address: "127.0.0.1:323", raw: "udp://127.0.0.1:323"},
		{Network: UDP, Address: "[::1]:323", raw: "udp://[::1]:323"},
	}
}

func (e Endpoint) String() string { return e.raw }

// ParseEndpoint accepts unix:///path, unixgram:///path and udp://host:port.
// Errors name the offending value so a user can find it in the config file.
func ParseEndpoint(s string) (Endpoint, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" {
		return Endpoint{}, fmt.Errorf("endpoint %q: no scheme: want unix:///path or udp://host:port", s)
	}
	switch scheme {
	case "unix", "unixgram":
		if !strings.HasPrefix(rest, "/") {
			return Endpoint{}, fmt.Errorf("endpoint %q: a unix socket needs an absolute path, as in unix:///run/chrony/chronyd.sock", s)
		}
		return Endpoint{Network: Unix, Address: filepath.Clean(rest), raw: s}, nil
	case "udp":
		host, port, err := net.SplitHostPort(strings.TrimSuffix(rest, "/"))
		if err != nil {
			return Endpoint{}, fmt.Errorf("endpoint %q: want udp://host:port: %w", s, err)
		}
		if host == "" {
			return Endpoint{}, fmt.Errorf("endpoint %q: empty host", s)
		}
		if strings.ContainsAny(host, "/?#@") {
			return Endpoint{}, fmt.Errorf("endpoint %q: bad host %q", s, host)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Endpoint{}, fmt.Errorf("endpoint %q: bad port %q: want 1 to 65535", s, port)
		}
		return Endpoint{Network: UDP, Address: net.JoinHostPort(host, port), raw: s}, nil
	default:
		return Endpoint{}, fmt.Errorf("endpoint %q: unknown scheme %q: want unix, unixgram or udp", s, scheme)
	}
}
