package chronyclient

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

// fakeChronyd answers chrony requests over UDP on loopback with replies
// recorded from a real chronyd (testdata/replies), patched to the request's
// sequence number. A test overrides answers per command to inject faults.
type fakeChronyd struct {
	t    *testing.T
	conn *net.UDPConn

	mu sync.Mutex
	// answer returns the packets to send for a request; nil sends nothing.
	answer   func(cmd uint16, index int32, req []byte) [][]byte
	requests atomic.Int32
	seqs     []uint32
	done     chan struct{}
}

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "replies", name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// answerTo makes rec the reply to req: same sequence number.
func answerTo(req, rec []byte) []byte {
	out := append([]byte(nil), rec...)
	binary.BigEndian.PutUint32(out[16:20], transport.RequestSequence(req))
	return out
}

// recorded answers every request the way the recorded chronyd did: two
// sources, PHC0 at index 0 and 127.0.0.1 at index 1.
func recorded(t testing.TB) func(cmd uint16, index int32, req []byte) [][]byte {
	files := map[uint16]map[int32]string{
		transport.CmdTracking:      {0: "tracking"},
		transport.CmdNSources:      {0: "sources"},
		transport.CmdSourceData:    {0: "sourcedata-phc0", 1: "sourcedata-ntp"},
		transport.CmdSourceStats:   {0: "sourcestats-phc0", 1: "sourcestats-ntp"},
		transport.CmdNTPSourceName: {0: "sourcename-ntp"},
		transport.CmdServerStats:   {0: "serverstats"},
	}
	replies := map[uint16]map[int32][]byte{}
	for cmd, byIndex := range files {
		replies[cmd] = map[int32][]byte{}
		for i, name := range byIndex {
			replies[cmd][i] = golden(t, name)
		}
	}
	return func(cmd uint16, index int32, req []byte) [][]byte {
		if cmd == transport.CmdNTPSourceName {
			index = 0
		}
		rec, ok := replies[cmd][index]
		if !ok {
			return nil
		}
		return [][]byte{answerTo(req, rec)}
	}
}

func startFake(t *testing.T) *fakeChronyd {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeChronyd{t: t, conn: conn, answer: recorded(t), done: make(chan struct{})}
	go f.serve()
	t.Cleanup(f.stop)
	return f
}

func (f *fakeChronyd) endpoint() string { return "udp://" + f.conn.LocalAddr().String() }

func (f *fakeChronyd) setAnswer(fn func(cmd uint16, index int32, req []byte) [][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = fn
}

func (f *fakeChronyd) serve() {
	defer close(f.done)
	buf := make([]byte, 2048)
	for {
		n, from, err := f.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		req := append([]byte(nil), buf[:n]...)
		f.requests.Add(1)
		cmd := transport.RequestCommand(req)
		index := int32(binary.BigEndian.Uint32(req[20:24]))
		f.mu.Lock()
		answer := f.answer
		f.seqs = append(f.seqs, transport.RequestSequence(req))
		f.mu.Unlock()
		for _, pkt := range answer(cmd, index, req) {
			_, _ = f.conn.WriteToUDP(pkt, from)
		}
	}
}

func (f *fakeChronyd) stop() {
	_ = f.conn.Close()
	<-f.done
}
