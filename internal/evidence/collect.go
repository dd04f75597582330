package evidence

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence/promapi"
)

// The series the shipped pipelines write, and their labels.
const (
	metricUp        = "chrony_up"
	metricMaxError  = "ntp_time_max_error_seconds"
	metricReference = "ntp_reference_info"
	labelNode       = "k8s_node_name"
	labelCluster    = "k8s_cluster_name"
	// kube-state-metrics' node inventory; Azure managed Prometheus scrapes
	// it by default and adds a cluster label.
	metricInventory = "kube_node_info"
)

// Querier is the part of the query API the evidence needs.
type Querier interface {
	QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]promapi.Series, error)
	Query(ctx context.Context, query string, at time.Time) ([]promapi.Sample, error)
	Version(ctx context.Context) string
}

// Config is what to report on.
type Config struct {
	Period    Period
	Tolerance float64
	Profile   string // "" when a tolerance was given directly
	Cluster   string // "" for every cluster in the store
	Inventory bool   // read kube_node_info
	// InventoryGap bridges gaps in the inventory's samples up to this long
	// (kube-state-metrics scrapes fail now and then; a node that is gone
	// for longer left the fleet and came back).
	InventoryGap time.Duration
	// PointBudget caps nodes × steps per range query, which caps the memory
	// a chunk takes.
	PointBudget int
}

// QueryRecord is one distinct query the report rests on, for the manifest.
type QueryRecord struct {
	Query    string `json:"query"`
	Kind     string `json:"kind"`
	Step     string `json:"step,omitempty"`
	Requests int    `json:"requests"`
}

// Result is the ledger after the whole period was read.
type Result struct {
	Ledger *Ledger
	// InventoryNote says where the fleet came from.
	Inventory string
	Warnings  []string
	Queries   []QueryRecord
	// Excluded are the inventory's nodes no collector can cover (Windows),
	// listed so that the report says what it does not speak for.
	Excluded       []Excluded
	ServerVersion  string
	WindowSemantic string
}

// Excluded is a node of the inventory outside the fleet.
type Excluded struct {
	Node, OSImage, Reason string
}

// ErrNoData is returned when the period holds no chrony series at all.
var ErrNoData = errors.New("no chrony data")

// Collect reads the period from q into a ledger.
func Collect(ctx context.Context, q Querier, cfg Config) (*Result, error) {
	if cfg.PointBudget == 0 {
		cfg.PointBudget = 250_000
	}
	if cfg.InventoryGap == 0 {
		cfg.InventoryGap = 10 * time.Minute
	}
	res := &Result{ServerVersion: q.Version(ctx)}
	c := &collector{q: q, cfg: cfg, res: res, queries: map[string]*QueryRecord{}}
	c.window = windowFor(res.ServerVersion, cfg.Period.Step)
	res.WindowSemantic = c.window.note

	ledger := NewLedger(cfg.Period, cfg.Tolerance)
	res.Ledger = ledger

	var inventory map[string][]Span
	if cfg.Inventory {
		var err error
		if inventory, err = c.readInventory(ctx); err != nil {
			return nil, err
		}
	}
	switch {
	case !cfg.Inventory:
		res.Inventory = "none (--inventory none): every node seen in the period counts for the whole period"
	case len(inventory) == 0:
		res.Inventory = "none (no kube_node_info series in the period): every node seen in the period counts for the whole period"
		inventory = nil
	default:
		res.Inventory = "kube_node_info (kube-state-metrics): each node counts from its first to its last inventory sample in the period"
	}
	for name, spans := range inventory {
		ledger.Add(name, cfg.Cluster, spans, false)
	}
	if err := c.readChrony(ctx, ledger, inventory != nil); err != nil {
		return nil, err
	}
	if !c.sawChrony {
		where := "in the store"
		if cfg.Cluster != "" {
			where = fmt.Sprintf("with %s=%q", labelCluster, cfg.Cluster)
		}
		return nil, fmt.Errorf("%w: no %s samples %s between %s and %s at %s: check --from/--to, --cluster, and that this is the store the collectors write to",
			ErrNoData, metricUp, where, cfg.Period.From.Format(time.RFC3339), cfg.Period.To().Format(time.RFC3339), describe(q))
	}
	if err := c.readReferences(ctx, ledger); err != nil {
		return nil, err
	}
	ledger.Finish()
	for _, n := range ledger.Nodes() {
		if n.NotInInventory {
			res.Warnings = append(res.Warnings, fmt.Sprintf("node %s has chrony series but is not in the inventory: it counts for the whole period", n.Name))
		}
		if n.Steps[Within]+n.Steps[AboveTolerance]+n.Steps[Unsynchronised]+n.Steps[Unreachable] == 0 && !n.NotInInventory {
			res.Warnings = append(res.Warnings, fmt.Sprintf("node %s is in the inventory but sent no chrony series in the period", n.Name))
		}
	}
	if cfg.Inventory {
		if err := c.readExcluded(ctx); err != nil {
			return nil, err
		}
	}
	for _, r := range c.order {
		res.Queries = append(res.Queries, *c.queries[r])
	}
	return res, nil
}

func describe(q Querier) string {
	if r, ok := q.(interface{ Redacted() string }); ok {
		return r.Redacted()
	}
	return "the query API"
}

type window struct {
	// The range selector that covers exactly one step ending at the
	// evaluation time: Prometheus 3 selects (t-d, t], 2.x [t-d, t].
	selector string
	closed   bool
	note     string
}

func windowFor(version string, step time.Duration) window {
	major, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	if m, err := strconv.Atoi(major); err == nil && m < 3 {
		return window{
			selector: fmt.Sprintf("%dms", step.Milliseconds()-1),
			closed:   true,
			note:     fmt.Sprintf("Prometheus %s selects ranges closed at both ends: each step reads [end-%dms, end] so that no sample counts in two steps", version, step.Milliseconds()-1),
		}
	}
	v := version
	if v == "" {
		v = "unknown version (assumed 3.x or compatible)"
	}
	return window{
		selector: fmt.Sprintf("%dms", step.Milliseconds()),
		note:     fmt.Sprintf("server %s: each step reads (end-%dms, end]", v, step.Milliseconds()),
	}
}

type collector struct {
	q         Querier
	cfg       Config
	res       *Result
	window    window
	queries   map[string]*QueryRecord
	order     []string
	sawChrony bool
}

func (c *collector) record(query, kind, step string) {
	r, ok := c.queries[query]
	if !ok {
		r = &QueryRecord{Query: query, Kind: kind, Step: step}
		c.queries[query] = r
		c.order = append(c.order, query)
	}
	r.Requests++
}

func (c *collector) chronySelector(metric string) string {
	if c.cfg.Cluster == "" {
		return metric
	}
	return fmt.Sprintf("%s{%s=%s}", metric, labelCluster, strconv.Quote(c.cfg.Cluster))
}

const windowsImage = `"(?i)windows.*"`

func (c *collector) inventorySelector() string {
	return c.inventorySelectorOS("!~")
}

func (c *collector) inventorySelectorOS(op string) string {
	// The collectors run on Linux nodes only; a Windows node has no chronyd
	// and no DaemonSet pod, so it is not part of the fleet.
	matchers := "os_image" + op + windowsImage
	if c.cfg.Cluster != "" {
		// Azure managed Prometheus labels the inventory with cluster; a
		// Prometheus in the cluster usually does not.
		matchers = fmt.Sprintf("cluster=~%s,", strconv.Quote(regexp.QuoteMeta(c.cfg.Cluster)+"|")) + matchers
	}
	return metricInventory + "{" + matchers + "}"
}

// chunks cuts the period into runs of steps that keep a range query under
// the API's 11,000 points per series and the point budget.
func (c *collector) chunks(nodes int) int {
	per := c.cfg.PointBudget / max(nodes, 1)
	return min(max(per, 60), 11_000, c.cfg.Period.Steps)
}

func (c *collector) rangeQuery(ctx context.Context, query string, from, to int) ([]promapi.Series, error) {
	p := c.cfg.Period
	c.record(query, "range", p.Step.String())
	return c.q.QueryRange(ctx, query, p.At(from+1), p.At(to), p.Step)
}

// readInventory returns, per node, the spans of steps from its first to its
// last inventory sample, gaps up to InventoryGap bridged.
func (c *collector) readInventory(ctx context.Context) (map[string][]Span, error) {
	query := fmt.Sprintf("max by (node) (count_over_time(%s[%s]))", c.inventorySelector(), c.window.selector)
	gapSteps := int(c.cfg.InventoryGap / c.cfg.Period.Step)
	spans := map[string][]Span{}
	per := c.chunks(1000)
	for from, to := 0, 0; from < c.cfg.Period.Steps; from = to {
		to = min(from+per, c.cfg.Period.Steps)
		series, err := c.rangeQuery(ctx, query, from, to)
		if err != nil {
			return nil, fmt.Errorf("reading the node inventory: %w", err)
		}
		for _, s := range series {
			node := s.Metric["node"]
			if node == "" {
				continue
			}
			for _, pt := range s.Values {
				k, ok := c.cfg.Period.Index(pt.T)
				if !ok || pt.V < 1 {
					continue
				}
				sp := spans[node]
				if n := len(sp); n > 0 && k-sp[n-1].End <= gapSteps {
					sp[n-1].End = k + 1
				} else {
					sp = append(sp, Span{Start: k, End: k + 1})
				}
				spans[node] = sp
			}
		}
		per = c.chunks(len(spans))
	}
	return spans, nil
}

type nodeChunk struct {
	cluster  string
	readings []Reading
}

// readChrony reads the bound and the read status step by step, chunk by
// chunk, and accounts every node's steps in order.
func (c *collector) readChrony(ctx context.Context, ledger *Ledger, haveInventory bool) error {
	by := fmt.Sprintf("by (%s, %s)", labelCluster, labelNode)
	upQuery := fmt.Sprintf("min %s (min_over_time(%s[%s]))", by, c.chronySelector(metricUp), c.window.selector)
	errQuery := fmt.Sprintf("max %s (max_over_time(%s[%s]))", by, c.chronySelector(metricMaxError), c.window.selector)
	whole := []Span{{0, c.cfg.Period.Steps}}
	per := c.chunks(max(len(ledger.nodes), 1000))
	for from, to := 0, 0; from < c.cfg.Period.Steps; from = to {
		to = min(from+per, c.cfg.Period.Steps)
		var upSeries, errSeries []promapi.Series
		var upErr, errErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			upSeries, upErr = c.rangeQuery(ctx, upQuery, from, to)
		}()
		errSeries, errErr = c.rangeQuery(ctx, errQuery, from, to)
		<-done
		if err := errors.Join(upErr, errErr); err != nil {
			return fmt.Errorf("reading the clock bounds: %w", err)
		}
		chunk := map[string]*nodeChunk{}
		get := func(m map[string]string) (*nodeChunk, error) {
			name := m[labelNode]
			nc := chunk[name]
			if nc == nil {
				nc = &nodeChunk{cluster: m[labelCluster], readings: make([]Reading, to-from)}
				chunk[name] = nc
			} else if nc.cluster != m[labelCluster] {
				return nil, fmt.Errorf("node %q has series from clusters %q and %q: pass --cluster", name, nc.cluster, m[labelCluster])
			}
			return nc, nil
		}
		fill := func(series []promapi.Series, set func(r *Reading, v float64)) error {
			for _, s := range series {
				nc, err := get(s.Metric)
				if err != nil {
					return err
				}
				for _, pt := range s.Values {
					if k, ok := c.cfg.Period.Index(pt.T); ok && k >= from && k < to {
						set(&nc.readings[k-from], pt.V)
					}
				}
			}
			return nil
		}
		if err := errors.Join(
			fill(upSeries, func(r *Reading, v float64) { r.HaveUp, r.MinUp = true, v }),
			fill(errSeries, func(r *Reading, v float64) { r.HaveErr, r.MaxErr = true, v }),
		); err != nil {
			return err
		}
		names := make([]string, 0, len(chunk))
		for name := range chunk {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			nc := chunk[name]
			if name == "" {
				c.res.Warnings = append(c.res.Warnings, fmt.Sprintf("series without a %s label were left out: the pipeline must set it", labelNode))
				continue
			}
			c.sawChrony = true
			n := ledger.Node(name)
			if n == nil {
				n = ledger.Add(name, nc.cluster, whole, haveInventory)
			}
			if n.Cluster == "" {
				n.Cluster = nc.cluster
			}
			for i, r := range nc.readings {
				ledger.Account(n, from+i, r)
			}
		}
		per = c.chunks(len(ledger.nodes))
	}
	return nil
}

// perDay runs one instant query per UTC-day-long chunk of the period, over
// that chunk, and hands each answer to use.
func (c *collector) perDay(ctx context.Context, what string, query func(window string) string, use func([]promapi.Sample)) error {
	p := c.cfg.Period
	stepsPerDay := max(int(24*time.Hour/p.Step), 1)
	for from, to := 0, 0; from < p.Steps; from = to {
		to = min(from+stepsPerDay, p.Steps)
		d := time.Duration(to-from) * p.Step
		if c.window.closed {
			d -= time.Millisecond
		}
		q := query(fmt.Sprintf("%dms", d.Milliseconds()))
		c.record(q, "instant", "")
		samples, err := c.q.Query(ctx, q, p.At(to))
		if err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
		use(samples)
	}
	return nil
}

// readExcluded lists the inventory's Windows nodes in the period.
func (c *collector) readExcluded(ctx context.Context) error {
	seen := map[string]bool{}
	err := c.perDay(ctx, "the inventory's Windows nodes", func(window string) string {
		return fmt.Sprintf("max by (node, os_image) (max_over_time(%s[%s]))", c.inventorySelectorOS("=~"), window)
	}, func(samples []promapi.Sample) {
		for _, s := range samples {
			if n := s.Metric["node"]; n != "" && !seen[n] {
				seen[n] = true
				c.res.Excluded = append(c.res.Excluded, Excluded{Node: n, OSImage: s.Metric["os_image"], Reason: "Windows node: no chronyd, no collector; its clock is not covered by this report"})
			}
		}
	})
	if err != nil {
		return err
	}
	sort.Slice(c.res.Excluded, func(i, j int) bool { return c.res.Excluded[i].Node < c.res.Excluded[j].Node })
	if n := len(c.res.Excluded); n > 0 {
		c.res.Warnings = append(c.res.Warnings, fmt.Sprintf("%d Windows node(s) in the inventory are not covered by this report (excluded_nodes)", n))
	}
	return nil
}

// readReferences counts, per node, the samples of each reference it
// followed.
func (c *collector) readReferences(ctx context.Context, ledger *Ledger) error {
	return c.perDay(ctx, "the references", func(window string) string {
		return fmt.Sprintf("sum by (%s, reference_id, reference_name) (count_over_time(%s[%s]))", labelNode, c.chronySelector(metricReference), window)
	}, func(samples []promapi.Sample) {
		for _, s := range samples {
			if n := ledger.Node(s.Metric[labelNode]); n != nil {
				n.References[Reference{ID: s.Metric["reference_id"], Name: s.Metric["reference_name"]}] += int64(s.Value.V)
			}
		}
	})
}
