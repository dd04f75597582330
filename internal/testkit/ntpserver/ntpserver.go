// Package ntpserver is an NTP server on loopback for tests, whose clock runs
// a chosen offset from the system clock: a stratum 1 server (reference GPS,
// root dispersion about 1 ms) to cross-check a clock against. The receiver's
// cross-check tests and the end-to-end tests share it.
package ntpserver

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
)

// Options shape the server's answers.
type Options struct {
	// Offset is how far the server's clock runs ahead of the system clock
	// (negative: behind).
	Offset time.Duration
	// Outbound and Inbound are waited before stamping a request's arrival
	// and after stamping the reply, as a network path with those delays
	// would take.
	Outbound, Inbound time.Duration
}

// packetSize is the size of an NTP packet without extensions.
const packetSize = 48

// RootDispersion is the root dispersion of every reply, in NTP's 16.16
// seconds: 66/65536 s, about 1 ms.
const RootDispersion = 66

// Server is a running NTP server, closed when the test ends.
type Server struct {
	conn     *net.UDPConn
	opts     Options
	requests atomic.Int32

	mu        sync.Mutex
	spoil     func(reply []byte) []byte
	replyFrom *net.UDPConn
}

// Start starts a server on a free loopback port.
func Start(t testkit.T, opts Options) *Server {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{conn: conn, opts: opts}
	t.Cleanup(func() { conn.Close() })
	go s.serve()
	return s
}

// Addr is the server's address, host:port.
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// Requests counts the datagrams the server has received.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// Spoil makes the server send spoil(reply) instead of its good reply; nil
// restores good replies. spoil runs outside the server's lock.
func (s *Server) Spoil(spoil func(reply []byte) []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spoil = spoil
}

// ReplyFrom makes the server send its replies from another socket.
func (s *Server) ReplyFrom(c *net.UDPConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replyFrom = c
}

func (s *Server) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		s.requests.Add(1)
		if n < packetSize {
			continue
		}
		req := make([]byte, packetSize)
		copy(req, buf[:packetSize])
		go s.answer(req, from)
	}
}

func (s *Server) answer(req []byte, from *net.UDPAddr) {
	time.Sleep(s.opts.Outbound)
	rx := time.Now().Add(s.opts.Offset)
	time.Sleep(time.Millisecond) // the server's own processing
	tx := time.Now().Add(s.opts.Offset)
	b := make([]byte, packetSize)
	b[0] = 4<<3 | 4 // no leap warning, version 4, server mode
	b[1] = 1        // stratum
	binary.BigEndian.PutUint32(b[8:], RootDispersion)
	copy(b[12:16], "GPS\x00")
	copy(b[24:32], req[40:48]) // origin: the request's transmit timestamp
	putTime(b[32:], rx)
	putTime(b[40:], tx)
	s.mu.Lock()
	spoil, replyFrom := s.spoil, s.replyFrom
	s.mu.Unlock()
	if spoil != nil {
		b = spoil(b)
	}
	time.Sleep(s.opts.Inbound)
	if replyFrom != nil {
		_, _ = replyFrom.WriteToUDP(b, from)
		return
	}
	_, _ = s.conn.WriteToUDP(b, from)
}

// ntpEpochOffset is the number of seconds from NTP's epoch, 1900-01-01, to
// Unix's.
const ntpEpochOffset = 2208988800

// putTime writes t as an NTP timestamp, seconds since 1900 modulo 2³² and
// their fraction in units of 2⁻³² s, into b[:8].
func putTime(b []byte, t time.Time) {
	binary.BigEndian.PutUint32(b, uint32(t.Unix()+ntpEpochOffset))
	binary.BigEndian.PutUint32(b[4:], uint32((uint64(t.Nanosecond())<<32)/1e9))
}
