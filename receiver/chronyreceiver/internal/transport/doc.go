// Package transport carries chrony command packets to chronyd over a unix
// datagram socket or UDP and brings back, for each request of an exchange,
// the reply that answers it: one exchange primitive, with a bounded window of
// requests in flight, resends, and every wait bounded by the caller's context.
// It knows the packet header and which reply types answer which command; the
// replies' data is decoded elsewhere.
package transport
