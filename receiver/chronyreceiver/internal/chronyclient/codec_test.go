package chronyclient

import (
	"encoding/binary"
	"testing"
	"time"
)

// chrony's Timespec carries Unix seconds as two 32-bit halves, not NTP's
// era-relative seconds: nothing rolls over in 2036, the low half is unsigned
// past 2038, the high half counts from 2106, and 0x7fffffff in it is a 32-bit
// chronyd's "no high part" (chrony's TV_NOHIGHSEC).
func TestTimespec(t *testing.T) {
	tests := []struct {
		name            string
		high, low, nsec uint32
		want            time.Time
	}{
		{"never (chrony's zero)", 0, 0, 0, time.Unix(0, 0)},
		{"2026", 0, 1795694400, 123456789, time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC)},
		{"NTP era 1 begins", 0, 2085978496, 0, time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC)},
		{"past the signed 32-bit end", 0, 0x80000000, 999999999, time.Date(2038, 1, 19, 3, 14, 8, 999999999, time.UTC)},
		{"32-bit chronyd past 2038", 0x7fffffff, 0x80000000, 0, time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC)},
		{"past the unsigned 32-bit end", 1, 0, 0, time.Date(2106, 2, 7, 6, 28, 16, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := binary.BigEndian.AppendUint32(nil, tt.high)
			b = binary.BigEndian.AppendUint32(b, tt.low)
			b = binary.BigEndian.AppendUint32(b, tt.nsec)
			r := wireReader{b: b}
			if got := r.timespec(); !got.Equal(tt.want) || r.err != nil {
				t.Errorf("%#x %#x %d: %s (%v), want %s", tt.high, tt.low, tt.nsec, got.UTC(), r.err, tt.want)
			}
		})
	}
}
