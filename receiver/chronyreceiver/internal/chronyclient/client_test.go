package chronyclient

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func newTestClient(t *testing.T, endpoint string) *Client {
	t.Helper()
	c, err := New(endpoint, transport.Options{RetryInterval: 50 * time.Millisecond}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// decoded is what the recorded replies decode to; ReceivedAt is left out as
// it is the time of the test run.
type decoded struct {
	Tracking    Tracking
	Sources     []Source
	ServerStats ServerStats
}

// The recorded replies of a real chronyd 4.3 decode to the golden values, the
// refclock named PHC0 as chronyc names it, the NTP source by its configured
// name. Refresh with -update after -capture.
func TestDecodeRecordedReplies(t *testing.T) {
	fake := startFake(t)
	c := newTestClient(t, fake.endpoint())
	ctx := ctxTimeout(t, 2*time.Second)
	var got decoded
	var err error
	if got.Tracking, err = c.Tracking(ctx); err != nil {
		t.Fatal(err)
	}
	if got.Sources, err = c.Sources(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got.ServerStats, err = c.ServerStats(ctx); err != nil {
		t.Fatal(err)
	}
	got.Tracking.ReceivedAt, got.ServerStats.ReceivedAt = time.Time{}, time.Time{}
	got.Tracking.RefTime = got.Tracking.RefTime.UTC()

	path := filepath.Join("testdata", "replies", "decoded.golden.json")
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(b)) {
		t.Errorf("decoded replies differ from %s:\n%s", path, b)
	}

	// Independent of the golden file: the facts this package exists for.
	if len(got.Sources) != 2 {
		t.Fatalf("want 2 sources, got %d", len(got.Sources))
	}
	phc, ntp := got.Sources[0], got.Sources[1]
	if phc.Address != "PHC0" || phc.Name != "PHC0" || phc.Mode != ModeRefclock {
		t.Errorf("refclock decoded as %q/%q mode %d, want PHC0/PHC0 mode %d", phc.Address, phc.Name, phc.Mode, ModeRefclock)
	}
	if ntp.Address != "127.0.0.1" || ntp.Name != "127.0.0.1" || ntp.Mode != ModeClient {
		t.Errorf("NTP source decoded as %q/%q mode %d", ntp.Address, ntp.Name, ntp.Mode)
	}
	if phc.Stats == nil || ntp.Stats == nil {
		t.Errorf("sourcestats missing: %+v %+v", phc.Stats, ntp.Stats)
	}
	if got.Tracking.ReferenceName != "127.0.0.1" || got.Tracking.Stratum != 2 || got.Tracking.LeapStatus != LeapNormal {
		t.Errorf("tracking reference %q stratum %d leap %d", got.Tracking.ReferenceName, got.Tracking.Stratum, got.Tracking.LeapStatus)
	}
}

// Names are asked for once per source, not every scrape.
func TestSourceNamesCached(t *testing.T) {
	fake := startFake(t)
	c := newTestClient(t, fake.endpoint())
	ctx := ctxTimeout(t, 2*time.Second)
	if _, err := c.Sources(ctx, false); err != nil {
		t.Fatal(err)
	}
	first := fake.requests.Load()
	if _, err := c.Sources(ctx, false); err != nil {
		t.Fatal(err)
	}
	// sources + 2 × sourcedata, and no sourcename this time.
	if got := fake.requests.Load() - first; got != 3 {
		t.Errorf("second Sources took %d requests, want 3", got)
	}
}

// A source that goes is forgotten with its name: re-added under the same
// address it may have been configured with another name, and the name
// reported must be the one it has now.
func TestSourceNameForgottenWhenSourceGoes(t *testing.T) {
	fake := startFake(t)
	answer := recorded(t)
	withName := func(name string, ntpGone bool) func(cmd uint16, index int32, req []byte) [][]byte {
		return func(cmd uint16, index int32, req []byte) [][]byte {
			switch {
			case cmd == transport.CmdNTPSourceName:
				return [][]byte{sourceNameReply(t, req, name)}
			case ntpGone && cmd == transport.CmdSourceData && index == 1:
				return [][]byte{patch(answerTo(req, golden(t, "sourcedata-ntp")), 8, uint16(transport.StatusNoSuchSource))}
			}
			return answer(cmd, index, req)
		}
	}
	c := newTestClient(t, fake.endpoint())
	ctx := ctxTimeout(t, 2*time.Second)
	scrapes := []struct {
		answer func(cmd uint16, index int32, req []byte) [][]byte
		want   []string // names of the sources read, in order
	}{
		{withName("old.example", false), []string{"PHC0", "old.example"}},
		{withName("old.example", true), []string{"PHC0"}},
		{withName("new.example", false), []string{"PHC0", "new.example"}},
	}
	for i, sc := range scrapes {
		fake.setAnswer(sc.answer)
		sources, err := c.Sources(ctx, false)
		if err != nil {
			t.Fatalf("scrape %d: %v", i, err)
		}
		var got []string
		for _, src := range sources {
			got = append(got, src.Name)
		}
		if strings.Join(got, ",") != strings.Join(sc.want, ",") {
			t.Errorf("scrape %d: source names %v, want %v", i, got, sc.want)
		}
	}
}

// sourceNameReply is the recorded sourcename reply to req, saying name.
func sourceNameReply(t testing.TB, req []byte, name string) []byte {
	t.Helper()
	out := answerTo(req, golden(t, "sourcename-ntp"))
	body := transport.ReplyBody(out)
	clear(body)
	copy(body, name)
	return out
}

// trackingStratumOffset: 28-byte header, refid (4), address (16 + 4).
const trackingStratumOffset = 52

func patch(rec []byte, at int, v uint16) []byte {
	out := append([]byte(nil), rec...)
	binary.BigEndian.PutUint16(out[at:], v)
	return out
}

// Every reply is checked. A datagram that is not an answer is ignored, as
// chronyc ignores it, and the error at the deadline says what was ignored; a
// refusal is an error at once. Never data.
func TestBadReplies(t *testing.T) {
	tracking := golden(t, "tracking")
	tests := []struct {
		name  string
		reply func(req []byte) [][]byte
		want  string
		is    transport.Status
	}{
		{"truncated header", func(req []byte) [][]byte { return [][]byte{answerTo(req, tracking)[:20]} }, "truncated reply: 20 bytes", 0},
		{"truncated body", func(req []byte) [][]byte { return [][]byte{answerTo(req, tracking)[:60]} }, "truncated tracking reply: 32 bytes of data, want 76", 0},
		{"not a reply", func(req []byte) [][]byte { r := answerTo(req, tracking); r[1] = 1; return [][]byte{r} }, "packet type 1 is not a reply", 0},
		{"other version", func(req []byte) [][]byte { r := answerTo(req, tracking); r[0] = 5; return [][]byte{r} }, "protocol version 5", 0},
		{"other command", func(req []byte) [][]byte { return [][]byte{patch(answerTo(req, tracking), 4, transport.CmdNSources)} }, "reply names command 14, request was 33", 0},
		{"other reply type", func(req []byte) [][]byte { return [][]byte{patch(answerTo(req, tracking), 6, 2)} }, "reply type 2 does not answer a tracking request", 0},
		{"unauthorised", func(req []byte) [][]byte { return [][]byte{patch(answerTo(req, tracking), 8, 2)} }, "status UNAUTH (chronyd serves this request only over its unix socket", transport.StatusUnauth},
		{"failed", func(req []byte) [][]byte { return [][]byte{patch(answerTo(req, tracking), 8, 1)} }, "status FAILED", 0},
		{"garbage", func(req []byte) [][]byte { return [][]byte{[]byte("this is not chrony at all, no sir")} }, "not a reply", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFake(t)
			fake.setAnswer(func(_ uint16, _ int32, req []byte) [][]byte { return tt.reply(req) })
			c := newTestClient(t, fake.endpoint())
			_, err := c.Tracking(ctxTimeout(t, 300*time.Millisecond))
			if err == nil {
				t.Fatal("bad reply accepted")
			}
			if !strings.Contains(err.Error(), fake.endpoint()) {
				t.Errorf("error %q does not name the endpoint", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "tracking") {
				t.Errorf("error %q does not say %q about the tracking request", err, tt.want)
			}
			if tt.is != 0 && !transport.RefusedWith(err, tt.is) {
				t.Errorf("error %q is not a refusal with status %v", err, tt.is)
			}
		})
	}
}

// A late reply to an earlier request arrives first: it is dropped and the
// right one is read.
func TestStaleReplyDiscarded(t *testing.T) {
	fake := startFake(t)
	tracking := golden(t, "tracking")
	fake.setAnswer(func(_ uint16, _ int32, req []byte) [][]byte {
		old := answerTo(req, tracking)
		binary.BigEndian.PutUint32(old[16:20], binary.BigEndian.Uint32(req[8:12])-1)
		// Make the stale one recognisably different: stratum 9.
		binary.BigEndian.PutUint16(old[trackingStratumOffset:], 9)
		return [][]byte{old, answerTo(req, tracking)}
	})
	c := newTestClient(t, fake.endpoint())
	tr, err := c.Tracking(ctxTimeout(t, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Stratum != 2 {
		t.Errorf("read the stale reply: stratum %d", tr.Stratum)
	}
}

// Over UDP a lost request or reply is sent again, as chronyc does.
func TestLostReplyRetried(t *testing.T) {
	fake := startFake(t)
	answer := recorded(t)
	var calls int
	fake.setAnswer(func(cmd uint16, index int32, req []byte) [][]byte {
		calls++
		if calls == 1 {
			return nil
		}
		return answer(cmd, index, req)
	})
	c := newTestClient(t, fake.endpoint())
	if _, err := c.Tracking(ctxTimeout(t, 2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := fake.requests.Load(); got != 2 {
		t.Errorf("requests sent: %d, want 2 (one lost, one retry)", got)
	}
}

// No answer at all: the call ends at the context's deadline with an error
// that says how often it tried.
func TestTimeout(t *testing.T) {
	fake := startFake(t)
	fake.setAnswer(func(uint16, int32, []byte) [][]byte { return nil })
	c := newTestClient(t, fake.endpoint())
	start := time.Now()
	_, err := c.Tracking(ctxTimeout(t, 400*time.Millisecond))
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "i/o timeout") {
		t.Fatalf("want a timeout, got %v", err)
	}
	if took < 350*time.Millisecond || took > 2*time.Second {
		t.Errorf("gave up after %s, deadline was 400ms", took)
	}
	if fake.requests.Load() < 2 {
		t.Errorf("only %d request sent before the deadline", fake.requests.Load())
	}
}

// A source removed between the count and its own request is skipped, and
// statistics that answer for another source are not filed under this one.
func TestSourcesChangingMidScrape(t *testing.T) {
	fake := startFake(t)
	answer := recorded(t)
	fake.setAnswer(func(cmd uint16, index int32, req []byte) [][]byte {
		switch {
		case cmd == transport.CmdSourceData && index == 0:
			return [][]byte{patch(answerTo(req, golden(t, "sourcedata-phc0")), 8, 4)} // NOSUCHSOURCE
		case cmd == transport.CmdSourceStats && index == 1:
			return answer(cmd, 0, req) // PHC0's statistics
		}
		return answer(cmd, index, req)
	})
	c := newTestClient(t, fake.endpoint())
	sources, err := c.Sources(ctxTimeout(t, time.Second), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) != 1 || sources[0].Address != "127.0.0.1" {
		t.Fatalf("sources = %+v, want only 127.0.0.1", sources)
	}
	if sources[0].Stats != nil {
		t.Errorf("another source's statistics filed under 127.0.0.1: %+v", sources[0].Stats)
	}
}

// With no endpoint the client tries chronyc's order and keeps the first that
// answers, logging the choice once.
func TestProbeTakesFirstThatAnswers(t *testing.T) {
	fake := startFake(t)
	core, logs := observer.New(zap.InfoLevel)
	c, err := New("", transport.Options{}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	missing, _ := transport.ParseEndpoint("unix://" + filepath.Join(t.TempDir(), "chronyd.sock"))
	reachable, _ := transport.ParseEndpoint(fake.endpoint())
	c.candidates = []transport.Endpoint{missing, reachable}
	for range 3 {
		if _, err := c.Tracking(ctxTimeout(t, time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if c.Endpoint() != fake.endpoint() {
		t.Errorf("endpoint %q, want %q", c.Endpoint(), fake.endpoint())
	}
	if n := logs.FilterMessage("reading chronyd").Len(); n != 1 {
		t.Errorf("logged the endpoint %d times, want once", n)
	}
}

// Nothing answers: the error names every endpoint tried.
func TestProbeNothingAnswers(t *testing.T) {
	c, err := New("", transport.Options{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, _ := transport.ParseEndpoint("unix://" + filepath.Join(dir, "a.sock"))
	b, _ := transport.ParseEndpoint("unix://" + filepath.Join(dir, "b.sock"))
	c.candidates = []transport.Endpoint{a, b}
	_, err = c.Tracking(ctxTimeout(t, time.Second))
	if err == nil || !strings.Contains(err.Error(), "a.sock") || !strings.Contains(err.Error(), "b.sock") {
		t.Fatalf("error should name both endpoints: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left files behind: %v", entries)
	}
}
