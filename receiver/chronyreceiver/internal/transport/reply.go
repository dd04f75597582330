package transport

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/facebook/time/ntp/chrony"
)

// Wire layout of chrony's command protocol, version 6 (candm.h).
const (
	protocolVersion  = 6
	packetTypeReply  = 2
	requestHeaderLen = 20
	replyHeaderLen   = 28
)

// Command numbers (REQ_*) the receiver sends, and the reply types (RPY_*)
// that may answer them. chronyd picks the newest serverstats layout it has,
// so that one has four.
const (
	CmdNSources      = 14
	CmdSourceData    = 15
	CmdTracking      = 33
	CmdSourceStats   = 34
	CmdServerStats   = 54
	CmdNTPSourceName = 65
)

var replyTypes = map[uint16][]chrony.ReplyType{
	CmdNSources:      {chrony.RpyNSources},
	CmdSourceData:    {chrony.RpySourceData},
	CmdTracking:      {chrony.RpyTracking},
	CmdSourceStats:   {chrony.RpySourceStats},
	CmdServerStats:   {chrony.RpyServerStats, chrony.RpyServerStats2, chrony.RpyServerStats3, chrony.RpyServerStats4},
	CmdNTPSourceName: {chrony.RpyNTPSourceName},
}

var commandNames = map[uint16]string{
	CmdNSources:      "sources",
	CmdSourceData:    "sourcedata",
	CmdTracking:      "tracking",
	CmdSourceStats:   "sourcestats",
	CmdServerStats:   "serverstats",
	CmdNTPSourceName: "sourcename",
}

func commandName(cmd uint16) string {
	if n, ok := commandNames[cmd]; ok {
		return n
	}
	return fmt.Sprintf("command %d", cmd)
}

// ErrStale marks a reply to an earlier request: dropped, never an answer.
var ErrStale = errors.New("reply to an earlier request")

// StatusError is a reply whose status is not success.
type StatusError struct {
	Command string
	Status  chrony.ResponseStatusType
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("chronyd refused the %s request with status %s", e.Command, e.Status)
}

// Is lets callers test for the UNAUTH status with errors.Is(err, ErrUnauthorised).
func (e *StatusError) Is(target error) bool {
	return target == ErrUnauthorised && e.Status == statusUnauth
}

const (
	statusSuccess chrony.ResponseStatusType = 0
	statusUnauth  chrony.ResponseStatusType = 2
)

// CheckReply accepts a packet only if it is a version-6 reply to request seq
// of command cmd, of a reply type that answers it, with status success.
func CheckReply(b []byte, cmd uint16, seq uint32) error {
	if len(b) < replyHeaderLen {
		return fmt.Errorf("truncated reply: %d bytes, a header alone is %d", len(b), replyHeaderLen)
	}
	if b[1] != packetTypeReply {
		return fmt.Errorf("packet type %d is not a reply", b[1])
	}
	if got := binary.BigEndian.Uint32(b[16:20]); got != seq {
		return ErrStale
	}
	if b[0] != protocolVersion {
		return fmt.Errorf("protocol version %d, want %d", b[0], protocolVersion)
	}
	if got := binary.BigEndian.Uint16(b[4:6]); got != cmd {
		return fmt.Errorf("reply names command %d, request was %d", got, cmd)
	}
	if status := chrony.ResponseStatusType(binary.BigEndian.Uint16(b[8:10])); status != statusSuccess {
		return &StatusError{Command: commandName(cmd), Status: status}
	}
	rt := chrony.ReplyType(binary.BigEndian.Uint16(b[6:8]))
	for _, want := range replyTypes[cmd] {
		if rt == want {
			return nil
		}
	}
	return fmt.Errorf("reply type %d does not answer a %s request", rt, commandName(cmd))
}
