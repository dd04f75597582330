// Package synclog writes the synchronisation log of a report: one row per
// node and step of what was read, as Parquet (columnar, typed, compressed),
// which pandas, DuckDB and Spark open as they are. FINRA Rule 4590 asks for
// a log of synchronisation times and results per clock; a report's
// aggregates do not keep the per-step readings, and the store forgets them.
package synclog

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
)

// Row is one step of one node. A reading not taken in the step is null.
// The columns are documented in docs/evidence.md; a change to them is a
// change of the report's manifest schema.
type Row struct {
	Node    string    `parquet:"node,dict"`
	Cluster string    `parquet:"cluster,dict"`
	StepEnd time.Time `parquet:"step_end,timestamp(millisecond)"`
	// State and UTCState are the step's states, as in summary.json.
	State    string `parquet:"state,dict"`
	UTCState string `parquet:"utc_state,dict"`
	// Up is the lowest chrony_up in the step.
	Up *int32 `parquet:"chrony_up,optional"`
	// MaxError is the highest ntp_time_max_error_seconds in the step
	// (+Inf: unsynchronised).
	MaxError     *float64 `parquet:"max_error_seconds,optional"`
	LastOffset   *float64 `parquet:"last_offset_seconds,optional"`
	ReferenceID  *string  `parquet:"reference_id,optional,dict"`
	ReferenceAge *float64 `parquet:"reference_age_seconds,optional"`
	// CrossCheckOffset is the cross-check offset (server minus node) of
	// largest magnitude among the node's servers' last samples in the step;
	// CrossCheckBound the smallest cross-check error bound in the step's
	// UTC window, which decides utc_verified.
	CrossCheckOffset *float64 `parquet:"cross_check_offset_seconds,optional"`
	CrossCheckBound  *float64 `parquet:"cross_check_error_bound_seconds,optional"`
}

// rowGroup is how many rows a row group holds: what the writer keeps in
// memory before it writes them out.
const rowGroup = 256 * 1024

// Writer writes the log's rows as they come.
type Writer struct {
	w    *parquet.GenericWriter[Row]
	buf  []Row
	rows int64
	err  error
}

// NewWriter starts a log written to out.
func NewWriter(out io.Writer) *Writer {
	return &Writer{
		w: parquet.NewGenericWriter[Row](out, parquet.Compression(&zstd.Codec{}), parquet.MaxRowsPerRowGroup(rowGroup),
			parquet.CreatedBy("chrony-evidence", "", "")),
		buf: make([]Row, 0, 4096),
	}
}

// Add appends a step. Errors are kept for Close.
func (w *Writer) Add(s evidence.StepRecord) {
	if w.err != nil {
		return
	}
	r := s.Reading
	row := Row{Node: s.Node.Name, Cluster: s.Node.Cluster, StepEnd: s.End.UTC(), State: s.State.String(), UTCState: s.UTC.String()}
	if r.HaveUp && (r.MinUp == 0 || r.MinUp == 1) {
		up := int32(r.MinUp)
		row.Up = &up
	}
	if r.HaveErr && (r.MaxErr >= 0) {
		row.MaxError = ptr(r.MaxErr)
	}
	if r.Log.HaveLastOffset {
		row.LastOffset = ptr(r.Log.LastOffset)
	}
	if r.Log.ReferenceID != "" {
		id := r.Log.ReferenceID
		row.ReferenceID = &id
	}
	if r.Log.HaveRefAge {
		row.ReferenceAge = ptr(r.Log.RefAge)
	}
	if r.UTC.HaveOffset {
		row.CrossCheckOffset = ptr(r.UTC.Offset)
	}
	if r.UTC.HaveBound && !r.UTC.Invalid {
		row.CrossCheckBound = ptr(r.UTC.MinBound)
	}
	w.buf = append(w.buf, row)
	if len(w.buf) == cap(w.buf) {
		w.flush()
	}
}

func ptr(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

func (w *Writer) flush() {
	if w.err != nil || len(w.buf) == 0 {
		return
	}
	n, err := w.w.Write(w.buf)
	w.rows += int64(n)
	if err != nil {
		w.err = fmt.Errorf("writing the synchronisation log: %w", err)
	}
	w.buf = w.buf[:0]
}

// Close writes what is left and the file's footer, and says how many rows
// the log holds.
func (w *Writer) Close() (int64, error) {
	w.flush()
	if err := w.w.Close(); err != nil && w.err == nil {
		w.err = fmt.Errorf("closing the synchronisation log: %w", err)
	}
	return w.rows, w.err
}
