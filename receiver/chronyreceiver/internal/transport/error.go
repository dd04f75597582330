package transport

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
)

// Error is a failure of the channel to chronyd. Its text tells this one
// occurrence in full, for a person to act on: the reply socket's file, the
// local port, how many tries, the last datagram that was not a reply. Those
// change from one scrape to the next while the cause stays the same (a new
// reply socket with a random name for every reconnect, a wedged chronyd whose
// queue fills after a few scrapes, a stranger whose datagrams differ each
// time), so Reason tells the cause without them, for a log that speaks once
// per cause.
type Error struct {
	reason string
	err    error
}

func (e *Error) Error() string { return e.err.Error() }
func (e *Error) Unwrap() error { return e.err }

// Reason is the cause in words that stay the same for as long as it lasts:
// no socket name, port, count, sequence number or packet field in it.
func (e *Error) Reason() string { return e.reason }

// withReason gives err a reason; nil stays nil.
func withReason(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{reason: reason, err: err}
}

// withoutAddresses is the text of a socket error without the addresses a
// *net.OpError names: the local one is a new port or reply socket on every
// reconnect.
func withoutAddresses(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// maskReplySocket gives an error about the reply socket at path its own text
// as the reason, with the socket's random name replaced by a pattern that
// names every reply socket of the directory.
func maskReplySocket(err error, path string) error {
	if err == nil {
		return nil
	}
	pattern := filepath.Join(filepath.Dir(path), replyPrefix+"*"+replySuffix)
	return withReason(strings.ReplaceAll(err.Error(), path, pattern), err)
}
