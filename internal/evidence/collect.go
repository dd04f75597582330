package evidence

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
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

	// The receiver's cross-check against independent NTP servers, and the
	// collector's build.
	metricXConsistent = "ntp_cross_check_consistent"
	metricXBound      = "ntp_cross_check_error_bound_seconds"
	metricXOffset     = "ntp_cross_check_offset_seconds"
	metricXUp         = "ntp_cross_check_up"
	metricXServer     = "ntp_cross_check_server_info"
	labelServer       = "server_address"
	metricCollector   = "chrony_collector_info"
	// What else the synchronisation log keeps.
	metricLastOffset = "ntp_time_last_offset_seconds"
	metricRefAge     = "ntp_time_reference_age_seconds"
)

// DefaultUTCWindow is Config.UTCWindow when it is not set: long enough to
// hold a cross-check at the receiver's default interval (64 s, ±10%) even
// when one check in a row is lost.
const DefaultUTCWindow = 5 * time.Minute

// Querier is the part of the query API the evidence needs. The warnings are
// what the API said beside the data.
type Querier interface {
	QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]promapi.Series, []string, error)
	Query(ctx context.Context, query string, at time.Time) ([]promapi.Sample, []string, error)
	Version(ctx context.Context) string
}

// DefaultPointBudget is Config.PointBudget when it is not set.
const DefaultPointBudget = 250_000

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
	// AcceptPartial makes a report from an answer that is not whole (the
	// API's warnings, values no collector writes) instead of failing; the
	// reasons go into Result.Partial.
	AcceptPartial bool
	// UTCWindow is how far back from a step's end its cross-check samples
	// count: (end − UTCWindow, end]. At least the step.
	UTCWindow time.Duration
	// OnStep, when set, is given every in-fleet step of every node as it
	// is accounted, with what the synchronisation log keeps (StepLog): it
	// costs three more range queries per chunk.
	OnStep func(StepRecord)
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
	// Partial says why the store's answer was not whole, when AcceptPartial
	// let the run go on: the report must carry it on every page.
	Partial []string
	Queries []QueryRecord
	// Excluded are the inventory's nodes no collector can cover (Windows),
	// listed so that the report says what it does not speak for.
	Excluded       []Excluded
	ServerVersion  string
	WindowSemantic string
	// UTCWindow is the window a step's UTC state is read from.
	UTCWindow time.Duration
	// Servers are the cross-check servers the fleet checked against.
	Servers []Server
	// Platforms and Collectors are the system-design annex's inventory:
	// the node images and versions (kube_node_info) and the collector builds
	// (chrony_collector_info) in the period.
	Platforms  []Platform
	Collectors []CollectorBuild
}

// Excluded is a node of the inventory outside the fleet.
type Excluded struct {
	Node, OSImage, Reason string
}

// ErrNoData is returned when the period holds no chrony series at all.
var ErrNoData = errors.New("no chrony data")

// ErrPartial is returned when the store's answer is not whole and
// Config.AcceptPartial is false.
var ErrPartial = errors.New("the store's answer is not whole")

// Collect reads the period from q into a ledger.
func Collect(ctx context.Context, q Querier, cfg Config) (*Result, error) {
	if cfg.PointBudget == 0 {
		cfg.PointBudget = DefaultPointBudget
	}
	if cfg.InventoryGap == 0 {
		cfg.InventoryGap = 10 * time.Minute
	}
	if cfg.UTCWindow == 0 {
		cfg.UTCWindow = DefaultUTCWindow
	}
	if cfg.UTCWindow < cfg.Period.Step || cfg.UTCWindow%time.Millisecond != 0 {
		return nil, fmt.Errorf("the UTC window %s is shorter than the step %s or not in whole milliseconds", cfg.UTCWindow, cfg.Period.Step)
	}
	res := &Result{ServerVersion: q.Version(ctx), UTCWindow: cfg.UTCWindow}
	c := &collector{q: q, cfg: cfg, res: res, queries: map[string]*QueryRecord{}, warned: map[string]int{}, bad: map[badKey]*badValues{}, seen: map[string]bool{}, servers: newServers()}
	c.window = windowFor(res.ServerVersion, cfg.Period.Step)
	res.WindowSemantic = c.window.note

	ledger := NewLedger(cfg.Period, cfg.Tolerance)
	ledger.OnStep = cfg.OnStep
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
		res.Warnings = append(res.Warnings, "--inventory auto found no kube_node_info in the period: the fleet is the nodes seen in chrony series, so a node whose collector never ran is not in this report")
		inventory = nil
	default:
		res.Inventory = "kube_node_info (kube-state-metrics): each node counts from its first to its last inventory sample in the period"
	}
	haveInventory := inventory != nil
	for name, spans := range inventory {
		ledger.Add(name, cfg.Cluster, spans, true)
	}
	if err := c.readServers(ctx); err != nil {
		return nil, err
	}
	if err := c.readChrony(ctx, ledger); err != nil {
		return nil, err
	}
	if !c.sawChrony {
		where := "in the store"
		if cfg.Cluster != "" {
			where = fmt.Sprintf("with %s=%q", labelCluster, cfg.Cluster)
		}
		outside := ""
		if c.outside > 0 {
			outside = fmt.Sprintf(" (the API answered %d points, none at the end of one of the period's %s steps: does it align queries to a grid of its own?)", c.outside, cfg.Period.Step)
		}
		return nil, fmt.Errorf("%w: no %s samples %s between %s and %s at %s%s: check --from/--to, --cluster, and that this is the store the collectors write to",
			ErrNoData, metricUp, where, cfg.Period.From.Format(time.RFC3339), cfg.Period.To().Format(time.RFC3339), describe(q), outside)
	}
	if err := c.readReferences(ctx, ledger); err != nil {
		return nil, err
	}
	if err := c.readSystem(ctx); err != nil {
		return nil, err
	}
	ledger.Finish()
	res.Servers = c.servers.list()
	for _, n := range ledger.Nodes() {
		if haveInventory && !n.InInventory {
			res.Warnings = append(res.Warnings, fmt.Sprintf("node %s has chrony series but is not in the inventory: it counts for the whole period", n.Name))
		}
		if n.Steps[Within]+n.Steps[AboveTolerance]+n.Steps[Unsynchronised]+n.Steps[Unreachable] > 0 {
			continue
		}
		if n.InInventory && !c.seen[n.Name] {
			res.Warnings = append(res.Warnings, fmt.Sprintf("node %s is in the inventory but sent no chrony series in the period", n.Name))
		} else {
			res.Warnings = append(res.Warnings, fmt.Sprintf("node %s gave no reading in the period: every step counts as no_data", n.Name))
		}
	}
	if cfg.Inventory {
		if err := c.readExcluded(ctx); err != nil {
			return nil, err
		}
	}
	requests := 0
	for _, r := range c.order {
		res.Queries = append(res.Queries, *c.queries[r])
		requests += c.queries[r].Requests
	}
	for _, w := range c.warnedOrder {
		res.Partial = append(res.Partial, fmt.Sprintf("the query API warned on %d of %d queries: %q", c.warned[w], requests, w))
	}
	res.Partial = append(res.Partial, c.badReasons()...)
	return res, nil
}

func describe(q Querier) string {
	if r, ok := q.(interface{ Redacted() string }); ok {
		return r.Redacted()
	}
	return "the query API"
}

// of is the range selector that covers d ending at the evaluation time.
func (w window) of(d time.Duration) string {
	if w.closed {
		d -= time.Millisecond
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
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
	// outside counts the points answered at no step's end of the period.
	outside int
	// seen holds the nodes with a chrony point in the period.
	seen map[string]bool
	// The API's warnings, with how many answers carried each.
	warned      map[string]int
	warnedOrder []string
	// Values no collector writes, per node and metric.
	bad      map[badKey]*badValues
	badOrder []badKey
	servers  *servers
}

type badKey struct{ node, metric string }

type badValues struct {
	count int
	first int64 // ms
	value float64
}

// noteWarnings keeps what the API said beside an answer. Without
// AcceptPartial the run ends at the first: a store that lost a part of its
// data answers with what it has, and a report from it would count the
// missing part as whatever the rest says.
func (c *collector) noteWarnings(what string, warnings []string) error {
	for _, w := range warnings {
		if _, ok := c.warned[w]; !ok {
			c.warnedOrder = append(c.warnedOrder, w)
		}
		c.warned[w]++
	}
	if len(warnings) > 0 && !c.cfg.AcceptPartial {
		return fmt.Errorf("%w: the query API answered %s with warnings %q: no report was written; fix the data source, or pass --accept-partial to report anyway with every page saying so",
			ErrPartial, what, warnings)
	}
	return nil
}

// noteBad keeps a value of metric that no collector writes.
func (c *collector) noteBad(node, metric string, t int64, v float64) {
	k := badKey{node, metric}
	b := c.bad[k]
	if b == nil {
		b = &badValues{first: t, value: v}
		c.bad[k] = b
		c.badOrder = append(c.badOrder, k)
	}
	b.count++
}

func (c *collector) badReasons() []string {
	var out []string
	for _, k := range c.badOrder {
		b := c.bad[k]
		why := map[string]string{
			metricUp:          "chrony_up is 0 or 1",
			metricMaxError:    "a bound is never below 0",
			metricXConsistent: "a consistency is 0 or 1",
			metricXBound:      "a cross-check bound is finite and never below 0",
			metricXOffset:     "an offset is finite",
		}[k.metric]
		out = append(out, fmt.Sprintf("node %s: %d value(s) of %s that no collector writes, the first %s at %s (%s): those steps count as no_data",
			k.node, b.count, k.metric, strconv.FormatFloat(b.value, 'g', -1, 64), time.UnixMilli(b.first).UTC().Format(time.RFC3339), why))
	}
	return out
}

// checkBad ends the run, without AcceptPartial, once a value no collector
// writes was read: the store holds series other than the collectors'
// (another writer, a unit or relabelling bug, corruption), and since only
// the step's reduction is read, more of them may hide behind it.
func (c *collector) checkBad() error {
	if len(c.bad) == 0 || c.cfg.AcceptPartial {
		return nil
	}
	reasons := c.badReasons()
	if len(reasons) > 5 {
		reasons = append(reasons[:5], fmt.Sprintf("and %d more", len(reasons)-5))
	}
	return fmt.Errorf("%w: %s: no report was written; fix the data source, or pass --accept-partial to report anyway with those steps as no_data and every page saying so",
		ErrPartial, strings.Join(reasons, "; "))
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

// rangeQuery asks for steps [from, to). It may run concurrently with
// another: the caller records the query and notes the warnings.
func (c *collector) rangeQuery(ctx context.Context, query string, from, to int) ([]promapi.Series, []string, error) {
	p := c.cfg.Period
	return c.q.QueryRange(ctx, query, p.At(from+1), p.At(to), p.Step)
}

func (c *collector) rangeWhat(query string, from, to int) string {
	p := c.cfg.Period
	return fmt.Sprintf("range query %s from %s to %s", query, p.At(from+1).Format(time.RFC3339), p.At(to).Format(time.RFC3339))
}

// readInventory returns, per node, the spans of steps from its first to its
// last inventory sample, gaps up to InventoryGap bridged. Any series naming
// the node in a step puts it in the fleet for that step, so duplicate series
// or points can only widen the fleet.
func (c *collector) readInventory(ctx context.Context) (map[string][]Span, error) {
	query := fmt.Sprintf("max by (node) (count_over_time(%s[%s]))", c.inventorySelector(), c.window.selector)
	gapSteps := int(c.cfg.InventoryGap / c.cfg.Period.Step)
	spans := map[string][]Span{}
	per := c.chunks(1000)
	for from, to := 0, 0; from < c.cfg.Period.Steps; from = to {
		to = min(from+per, c.cfg.Period.Steps)
		c.record(query, "range", c.cfg.Period.Step.String())
		series, warnings, err := c.rangeQuery(ctx, query, from, to)
		if err == nil {
			err = c.noteWarnings(c.rangeWhat(query, from, to), warnings)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the node inventory: %w", err)
		}
		present := map[string][]bool{}
		for _, s := range series {
			node := s.Metric["node"]
			if node == "" {
				continue
			}
			for _, pt := range s.Values {
				k, ok := c.cfg.Period.Index(pt.T)
				if !ok || k < from || k >= to || pt.V < 1 {
					continue
				}
				if present[node] == nil {
					present[node] = make([]bool, to-from)
				}
				present[node][k-from] = true
			}
		}
		for node, steps := range present {
			sp := spans[node]
			for i, in := range steps {
				if !in {
					continue
				}
				k := from + i
				if n := len(sp); n > 0 && k-sp[n-1].End <= gapSteps {
					sp[n-1].End = k + 1
				} else {
					sp = append(sp, Span{Start: k, End: k + 1})
				}
			}
			spans[node] = sp
		}
		per = c.chunks(len(spans))
	}
	return spans, nil
}

type nodeChunk struct {
	cluster  string
	readings []Reading
}

// stepQuery is one range query of a chunk, and how its points go into the
// step's reading; labels are the series' labels.
type stepQuery struct {
	metric, query string
	add           func(r *Reading, labels map[string]string, v float64) bool
}

// stepQueries are the range queries that make a step's reading, in pairs
// that run at once: two answers in memory at a time, as the response bound
// and the CronJob's memory limit assume.
func (c *collector) stepQueries() [][]stepQuery {
	by := fmt.Sprintf("by (%s, %s)", labelCluster, labelNode)
	step, utc := c.window.of(c.cfg.Period.Step), c.window.of(c.cfg.UTCWindow)
	groups := [][]stepQuery{{
		{metricUp, fmt.Sprintf("min %s (min_over_time(%s[%s]))", by, c.chronySelector(metricUp), step),
			func(r *Reading, _ map[string]string, v float64) bool { return r.AddUp(v) }},
		{metricMaxError, fmt.Sprintf("max %s (max_over_time(%s[%s]))", by, c.chronySelector(metricMaxError), step),
			func(r *Reading, _ map[string]string, v float64) bool { return r.AddMaxError(v) }},
	}, {
		{metricXConsistent, fmt.Sprintf("min %s (min_over_time(%s[%s]))", by, c.chronySelector(metricXConsistent), utc),
			func(r *Reading, _ map[string]string, v float64) bool { return r.UTC.AddConsistent(v) }},
		{metricXBound, fmt.Sprintf("min %s (min_over_time(%s[%s]))", by, c.chronySelector(metricXBound), utc),
			func(r *Reading, _ map[string]string, v float64) bool { return r.UTC.AddBound(v) }},
	}, {
		// Per server, for the server table: each node's last offset in the
		// step (the receiver repeats its latest check at every scrape).
		{metricXOffset, fmt.Sprintf("max by (%s, %s, %s) (last_over_time(%s[%s]))", labelCluster, labelNode, labelServer, c.chronySelector(metricXOffset), step),
			func(r *Reading, labels map[string]string, v float64) bool {
				if !r.UTC.AddOffset(v) {
					return false
				}
				if addr := labels[labelServer]; addr != "" && !math.IsNaN(v) {
					sv := c.servers.get(addr)
					sv.addOffset(v)
					c.servers.nodes[addr][labels[labelNode]] = true
				}
				return true
			}},
	}}
	if c.cfg.OnStep == nil {
		return groups
	}
	last := func(metric string) string {
		return fmt.Sprintf("max %s (last_over_time(%s[%s]))", by, c.chronySelector(metric), step)
	}
	return append(groups, []stepQuery{
		{metricLastOffset, last(metricLastOffset), func(r *Reading, _ map[string]string, v float64) bool {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				r.Log.HaveLastOffset, r.Log.LastOffset = true, v
			}
			return true
		}},
		{metricRefAge, last(metricRefAge), func(r *Reading, _ map[string]string, v float64) bool {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				r.Log.HaveRefAge, r.Log.RefAge = true, v
			}
			return true
		}},
	}, []stepQuery{
		{metricReference, fmt.Sprintf("max by (%s, %s, reference_id) (last_over_time(%s[%s]))", labelCluster, labelNode, c.chronySelector(metricReference), step),
			func(r *Reading, labels map[string]string, _ float64) bool {
				if id := labels["reference_id"]; id != "" && !strings.Contains(" "+r.Log.ReferenceID+" ", " "+id+" ") {
					r.Log.ReferenceID = strings.TrimSpace(r.Log.ReferenceID + " " + id)
				}
				return true
			}},
	})
}

// readChrony reads the steps' readings chunk by chunk, and accounts every
// node's steps in order.
func (c *collector) readChrony(ctx context.Context, ledger *Ledger) error {
	whole := []Span{{0, c.cfg.Period.Steps}}
	// The per-server query answers a series per node and server.
	perNode := max(len(c.servers.by), 1)
	per := c.chunks(max(len(ledger.nodes), 1000) * perNode)
	groups := c.stepQueries()
	for from, to := 0, 0; from < c.cfg.Period.Steps; from = to {
		to = min(from+per, c.cfg.Period.Steps)
		chunk := map[string]*nodeChunk{}
		for _, group := range groups {
			if err := c.readGroup(ctx, group, from, to, chunk); err != nil {
				return err
			}
		}
		if err := c.checkBad(); err != nil {
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
			n := ledger.Node(name)
			if n == nil {
				n = ledger.Add(name, nc.cluster, whole, false)
			}
			if n.Cluster == "" {
				n.Cluster = nc.cluster
			}
			for i, r := range nc.readings {
				ledger.Account(n, from+i, r)
			}
		}
		per = c.chunks(len(ledger.nodes) * perNode)
	}
	return nil
}

// readGroup runs a group's range queries at once for steps [from, to) and
// merges their points into the chunk's readings.
func (c *collector) readGroup(ctx context.Context, group []stepQuery, from, to int, chunk map[string]*nodeChunk) error {
	series := make([][]promapi.Series, len(group))
	warnings := make([][]string, len(group))
	errs := make([]error, len(group))
	var wg sync.WaitGroup
	for i, sq := range group {
		c.record(sq.query, "range", c.cfg.Period.Step.String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			series[i], warnings[i], errs[i] = c.rangeQuery(ctx, sq.query, from, to)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("reading the steps: %w", err)
	}
	for i, sq := range group {
		if err := c.noteWarnings(c.rangeWhat(sq.query, from, to), warnings[i]); err != nil {
			return fmt.Errorf("reading the steps: %w", err)
		}
	}
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
	// Every point is merged into its step, the worst deciding: a store that
	// answers two series for one node, or one timestamp twice, cannot have
	// the last one overwrite a breach.
	for i, sq := range group {
		for _, s := range series[i] {
			nc, err := get(s.Metric)
			if err != nil {
				return err
			}
			name := s.Metric[labelNode]
			for _, pt := range s.Values {
				k, ok := c.cfg.Period.Index(pt.T)
				if !ok || k < from || k >= to {
					c.outside++
					continue
				}
				if name != "" {
					c.seen[name] = true
					if sq.metric == metricUp {
						c.sawChrony = true
					}
				}
				if !sq.add(&nc.readings[k-from], s.Metric, pt.V) && name != "" {
					c.noteBad(name, sq.metric, pt.T, pt.V)
				}
			}
		}
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
		samples, warnings, err := c.q.Query(ctx, q, p.At(to))
		if err == nil {
			err = c.noteWarnings(fmt.Sprintf("query %s at %s", q, p.At(to).Format(time.RFC3339)), warnings)
		}
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

// readServers reads, day by day, who each cross-check server was and its
// totals over the period: the answered checks, the disagreements and the
// worst bound. The offsets come with the steps (readChrony).
func (c *collector) readServers(ctx context.Context) error {
	by := "by (" + labelServer + ")"
	type perServer struct {
		what  string
		query func(window string) string
		use   func(sv *Server, s promapi.Sample)
	}
	count := func(metric string) func(string) string {
		return func(w string) string {
			return fmt.Sprintf("sum %s (count_over_time(%s[%s]))", by, c.chronySelector(metric), w)
		}
	}
	sum := func(metric string) func(string) string {
		return func(w string) string {
			return fmt.Sprintf("sum %s (sum_over_time(%s[%s]))", by, c.chronySelector(metric), w)
		}
	}
	// A consistency is 0 or 1 (the steps' queries refuse anything else), so
	// count − sum is the number of disagreeing samples.
	for _, q := range []perServer{
		{"the cross-check servers' checks", count(metricXUp), func(sv *Server, s promapi.Sample) { sv.UpSamples += int64(s.Value.V) }},
		{"the cross-check servers' answers", sum(metricXUp), func(sv *Server, s promapi.Sample) { sv.AnsweredSamples += int64(s.Value.V) }},
		{"the cross-check consistency", count(metricXConsistent), func(sv *Server, s promapi.Sample) {
			sv.ConsistentSamples += int64(s.Value.V)
			sv.DisagreeingSamples += int64(s.Value.V)
		}},
		{"the cross-check consistency", sum(metricXConsistent), func(sv *Server, s promapi.Sample) { sv.DisagreeingSamples -= int64(s.Value.V) }},
		{"the cross-check bounds", func(w string) string {
			return fmt.Sprintf("max %s (max_over_time(%s[%s]))", by, c.chronySelector(metricXBound), w)
		}, func(sv *Server, s promapi.Sample) {
			if v := s.Value.V; v >= 0 && !math.IsInf(v, 1) {
				sv.WorstBound = maxKnown(sv.WorstBound, v)
			}
		}},
		{"the cross-check servers' nodes", func(w string) string {
			return fmt.Sprintf("count by (%s, %s) (count_over_time(%s[%s]))", labelServer, labelNode, c.chronySelector(metricXUp), w)
		}, func(sv *Server, s promapi.Sample) {
			if n := s.Metric[labelNode]; n != "" {
				c.servers.nodes[sv.Address][n] = true
			}
		}},
		{"the cross-check servers' identities", func(w string) string {
			return fmt.Sprintf("sum by (%s, server_stratum, reference_id, reference_name) (count_over_time(%s[%s]))", labelServer, c.chronySelector(metricXServer), w)
		}, func(sv *Server, s promapi.Sample) {
			id := ServerIdentity{Stratum: s.Metric["server_stratum"], ReferenceID: s.Metric["reference_id"], ReferenceName: s.Metric["reference_name"]}
			c.servers.ids[sv.Address][id] += int64(s.Value.V)
		}},
	} {
		err := c.perDay(ctx, q.what, q.query, func(samples []promapi.Sample) {
			for _, s := range samples {
				if addr := s.Metric[labelServer]; addr != "" && !math.IsNaN(s.Value.V) {
					q.use(c.servers.get(addr), s)
				}
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// readSystem reads, day by day, the node images and versions of the
// inventory and the collector builds, for the system-design annex.
func (c *collector) readSystem(ctx context.Context) error {
	type platformKey struct{ os, kernel, kubelet, runtime string }
	platforms := map[platformKey]map[string]bool{}
	if c.cfg.Inventory {
		err := c.perDay(ctx, "the node images", func(w string) string {
			return fmt.Sprintf("max by (node, os_image, kernel_version, kubelet_version, container_runtime_version) (max_over_time(%s[%s]))", c.inventorySelector(), w)
		}, func(samples []promapi.Sample) {
			for _, s := range samples {
				m := s.Metric
				k := platformKey{m["os_image"], m["kernel_version"], m["kubelet_version"], m["container_runtime_version"]}
				if platforms[k] == nil {
					platforms[k] = map[string]bool{}
				}
				platforms[k][m["node"]] = true
			}
		})
		if err != nil {
			return err
		}
	}
	type buildKey struct{ command, version string }
	builds := map[buildKey]map[string]bool{}
	err := c.perDay(ctx, "the collector builds", func(w string) string {
		return fmt.Sprintf("max by (%s, collector_command, collector_version) (max_over_time(%s[%s]))", labelNode, c.chronySelector(metricCollector), w)
	}, func(samples []promapi.Sample) {
		for _, s := range samples {
			m := s.Metric
			k := buildKey{m["collector_command"], m["collector_version"]}
			if builds[k] == nil {
				builds[k] = map[string]bool{}
			}
			builds[k][m[labelNode]] = true
		}
	})
	if err != nil {
		return err
	}
	for k, nodes := range platforms {
		c.res.Platforms = append(c.res.Platforms, Platform{OSImage: k.os, KernelVersion: k.kernel, KubeletVersion: k.kubelet, ContainerRuntimeVersion: k.runtime, Nodes: sortedKeys(nodes)})
	}
	SortPlatforms(c.res.Platforms)
	for k, nodes := range builds {
		c.res.Collectors = append(c.res.Collectors, CollectorBuild{Command: k.command, Version: k.version, Nodes: sortedKeys(nodes)})
	}
	SortCollectors(c.res.Collectors)
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
