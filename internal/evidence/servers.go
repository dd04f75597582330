package evidence

import (
	"math"
	"sort"
)

// Server is one cross-check server as the fleet saw it over the period.
type Server struct {
	Address string
	// Identities are who answered at that address (stratum, reference),
	// with how many samples of ntp_cross_check_server_info named each.
	Identities []ServerIdentity
	// Nodes is how many nodes checked against it.
	Nodes int
	// UpSamples and AnsweredSamples count ntp_cross_check_up samples and
	// those that were 1: the share of the collectors' scrapes at which the
	// latest check had been answered.
	UpSamples, AnsweredSamples int64
	// ConsistentSamples and DisagreeingSamples count
	// ntp_cross_check_consistent samples and those that were 0.
	ConsistentSamples, DisagreeingSamples int64
	// WorstBound is the highest ntp_cross_check_error_bound; NaN if none.
	WorstBound float64
	// AbsOffsetMax is the largest |offset| read; NaN if none.
	AbsOffsetMax float64
	// offsets holds |offset| of each node's last sample in each step.
	offsets histogram
}

// ServerIdentity is what ntp_cross_check_server_info said a server was.
type ServerIdentity struct {
	Stratum, ReferenceID, ReferenceName string
	Samples                             int64
}

// OffsetPercentile is the q-quantile of |offset| over every node's last
// sample in every step (to within 0.5%), or NaN when none was read.
func (s *Server) OffsetPercentile(q float64) float64 { return s.offsets.percentile(q) }

// NewServer is a server of that address of which nothing is known yet.
func NewServer(address string) *Server {
	return &Server{Address: address, WorstBound: math.NaN(), AbsOffsetMax: math.NaN(), offsets: newHistogram()}
}

func (s *Server) addOffset(v float64) {
	v = math.Abs(v)
	s.offsets.add(v)
	s.AbsOffsetMax = maxKnown(s.AbsOffsetMax, v)
}

// servers accumulates the per-server table while the period is read.
type servers struct {
	by    map[string]*Server
	nodes map[string]map[string]bool
	ids   map[string]map[ServerIdentity]int64
}

func newServers() *servers {
	return &servers{by: map[string]*Server{}, nodes: map[string]map[string]bool{}, ids: map[string]map[ServerIdentity]int64{}}
}

func (s *servers) get(address string) *Server {
	sv := s.by[address]
	if sv == nil {
		sv = NewServer(address)
		s.by[address] = sv
		s.nodes[address] = map[string]bool{}
		s.ids[address] = map[ServerIdentity]int64{}
	}
	return sv
}

// list returns the servers sorted by address, their identities most
// named first.
func (s *servers) list() []Server {
	out := make([]Server, 0, len(s.by))
	for addr, sv := range s.by {
		sv.Nodes = len(s.nodes[addr])
		sv.Identities = sv.Identities[:0]
		for id, n := range s.ids[addr] {
			id.Samples = n
			sv.Identities = append(sv.Identities, id)
		}
		SortIdentities(sv.Identities)
		out = append(out, *sv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// Platform is one combination of node image and versions the inventory
// named, with the nodes that ran it in the period.
type Platform struct {
	OSImage, KernelVersion, KubeletVersion, ContainerRuntimeVersion string
	Nodes                                                           []string
}

// CollectorBuild is one collector build the nodes ran in the period.
type CollectorBuild struct {
	Command, Version string
	Nodes            []string
}

// SortIdentities puts the identities most named first.
func SortIdentities(ids []ServerIdentity) {
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if a.Samples != b.Samples {
			return a.Samples > b.Samples
		}
		return a.Stratum+a.ReferenceID+a.ReferenceName < b.Stratum+b.ReferenceID+b.ReferenceName
	})
}

// SortPlatforms orders platforms by image and versions.
func SortPlatforms(ps []Platform) {
	key := func(p Platform) string {
		return p.OSImage + "\x00" + p.KernelVersion + "\x00" + p.KubeletVersion + "\x00" + p.ContainerRuntimeVersion
	}
	sort.Slice(ps, func(i, j int) bool { return key(ps[i]) < key(ps[j]) })
}

// SortCollectors orders collector builds by command and version.
func SortCollectors(cs []CollectorBuild) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Command+"\x00"+cs[i].Version < cs[j].Command+"\x00"+cs[j].Version })
}
