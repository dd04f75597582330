package transport

import "testing"

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in      string
		network Network
		address string
	}{
		{"unix:///run/chrony/chronyd.sock", Unix, "/run/chrony/chronyd.sock"},
		{"unixgram:///var/run/chrony/chronyd.sock", Unix, "/var/run/chrony/chronyd.sock"},
		{"unix:///run/chrony/../chrony/chronyd.sock", Unix, "/run/chrony/chronyd.sock"},
		{"udp://127.0.0.1:323", UDP, "127.0.0.1:323"},
		{"udp://localhost:3030", UDP, "localhost:3030"},
		{"udp://[::1]:323", UDP, "[::1]:323"},
		{"udp://[fe80::1%eth0]:323", UDP, "[fe80::1%eth0]:323"},
		{"udp://127.0.0.1:323/", UDP, "127.0.0.1:323"},
	}
	for _, tt := range tests {
		ep, err := ParseEndpoint(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if ep.Network != tt.network || ep.Address != tt.address || ep.String() != tt.in {
			t.Errorf("%q parsed as %s %q (%s)", tt.in, ep.Network, ep.Address, ep)
		}
	}
	for _, bad := range []string{"", "udp://", "udp://[::1]", "udp://a/b:323", "udp://host:-1", "tcp://h:1", "://x", "unix:", "unix://relative"} {
		if _, err := ParseEndpoint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestProbeOrderIsChronycs(t *testing.T) {
	var got []string
	for _, ep := range ProbeOrder() {
		got = append(got, ep.String())
	}
	want := []string{"unix:///run/chrony/chronyd.sock", "udp://127.0.0.1:323", "udp://[::1]:323"}
	if len(got) != len(want) {
		t.Fatalf("probe order %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("probe order %v, want %v", got, want)
		}
	}
}
