package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Wire layout of chrony's command protocol, version 6 (candm.h). Every byte
// offset into a packet header is named here and nowhere else.
const (
	protocolVersion   = 6
	packetTypeRequest = 1
	packetTypeReply   = 2

	// requestHeaderLen is CMD_Request up to its data.
	requestHeaderLen = 20
	// ReplyHeaderLen is CMD_Reply up to its data.
	ReplyHeaderLen = 28

	// maxPacket is larger than any chrony command packet (the largest reply,
	// clients by index, is under 500 bytes).
	maxPacket = 1024
)

// Command numbers (REQ_*) the receiver sends.
const (
	CmdNSources      = 14
	CmdSourceData    = 15
	CmdTracking      = 33
	CmdSourceStats   = 34
	CmdServerStats   = 54
	CmdNTPSourceName = 65
)

// Reply types (RPY_*) that answer them. chronyd picks the newest serverstats
// layout it has, so that one has four.
const (
	RpyNSources      = 2
	RpySourceData    = 3
	RpyTracking      = 5
	RpySourceStats   = 6
	RpyServerStats   = 14
	RpyNTPSourceName = 19
	RpyServerStats2  = 22
	RpyServerStats3  = 24
	RpyServerStats4  = 25
)

// replyBodyLen is how many bytes of data follow the header of each reply
// type; chronyc ignores a reply shorter than that, and so do we.
var replyBodyLen = map[uint16]int{
	RpyNSources:      4,
	RpySourceData:    48,
	RpyTracking:      76,
	RpySourceStats:   56,
	RpyServerStats:   5 * 4,
	RpyNTPSourceName: 256,
	RpyServerStats2:  8 * 4,
	RpyServerStats3:  11 * 4,
	RpyServerStats4:  17 * 8,
}

var replyTypes = map[uint16][]uint16{
	CmdNSources:      {RpyNSources},
	CmdSourceData:    {RpySourceData},
	CmdTracking:      {RpyTracking},
	CmdSourceStats:   {RpySourceStats},
	CmdServerStats:   {RpyServerStats, RpyServerStats2, RpyServerStats3, RpyServerStats4},
	CmdNTPSourceName: {RpyNTPSourceName},
}

var commandNames = map[uint16]string{
	CmdNSources:      "sources",
	CmdSourceData:    "sourcedata",
	CmdTracking:      "tracking",
	CmdSourceStats:   "sourcestats",
	CmdServerStats:   "serverstats",
	CmdNTPSourceName: "sourcename",
}

// CommandName is chronyc's word for a command, for error messages.
func CommandName(cmd uint16) string {
	if n, ok := commandNames[cmd]; ok {
		return n
	}
	return fmt.Sprintf("command %d", cmd)
}

// RequestCommand is the command of an encoded request.
func RequestCommand(b []byte) uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// RequestSequence is the sequence number of an encoded request.
func RequestSequence(b []byte) uint32 { return binary.BigEndian.Uint32(b[8:12]) }

// SetRequestSequence stamps an encoded request with its sequence number.
func SetRequestSequence(b []byte, seq uint32) { binary.BigEndian.PutUint32(b[8:12], seq) }

// Reply header fields.
func replyVersion(b []byte) uint8    { return b[0] }
func replyPacketType(b []byte) uint8 { return b[1] }
func replyCommand(b []byte) uint16   { return binary.BigEndian.Uint16(b[4:6]) }
func replyStatus(b []byte) Status    { return Status(binary.BigEndian.Uint16(b[8:10])) }
func replySequence(b []byte) uint32  { return binary.BigEndian.Uint32(b[16:20]) }

// ReplyType is the RPY_* type of a reply that passed CheckReply.
func ReplyType(b []byte) uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// ReplyBody is the data after a reply's header.
func ReplyBody(b []byte) []byte { return b[ReplyHeaderLen:] }

// Status is a reply's STT_* status.
type Status uint16

// The statuses the receiver tells apart.
const (
	StatusSuccess      Status = 0
	StatusFailed       Status = 1
	StatusUnauth       Status = 2
	StatusInvalid      Status = 3
	StatusNoSuchSource Status = 4
)

var statusNames = map[Status]string{
	StatusSuccess: "SUCCESS", StatusFailed: "FAILED", StatusUnauth: "UNAUTH",
	StatusInvalid: "INVALID", StatusNoSuchSource: "NOSUCHSOURCE",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status %d", uint16(s))
}

// StatusError is chronyd's refusal of one request: the channel works.
type StatusError struct {
	Command string
	Status  Status
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("chronyd refused the %s request with status %s", e.Command, e.Status)
	if e.Status == StatusUnauth {
		// What a user can do about it: chronyd answers monitoring requests
		// over UDP only from the addresses cmdallow lets in, and some reports
		// (serverstats) only over its unix socket.
		msg += " (chronyd serves this request only over its unix socket, or over UDP to an address its cmdallow permits)"
	}
	return msg
}

// isRefusal tells chronyd's refusal of a request from a failure of the channel.
func isRefusal(err error) bool {
	var se *StatusError
	return errors.As(err, &se)
}

// RefusedWith tells whether err is chronyd's refusal of a request with status s.
func RefusedWith(err error, s Status) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == s
}

// checkReplyHeader accepts a datagram that is a version-6 reply at all.
func checkReplyHeader(b []byte) error {
	if len(b) < ReplyHeaderLen {
		return fmt.Errorf("truncated reply: %d bytes, a header alone is %d", len(b), ReplyHeaderLen)
	}
	if t := replyPacketType(b); t != packetTypeReply {
		return fmt.Errorf("packet type %d is not a reply", t)
	}
	if v := replyVersion(b); v != protocolVersion {
		return fmt.Errorf("protocol version %d, want %d", v, protocolVersion)
	}
	return nil
}

// CheckReply is chronyc's test of a datagram against the request it waits
// for: a version-6 reply to that command and sequence number, long enough
// for its reply type, which must answer the command. A refusal is a
// *StatusError; any other error means the datagram is not an answer at all,
// and chronyc ignores such datagrams.
func CheckReply(b []byte, cmd uint16, seq uint32) error {
	if err := checkReplyHeader(b); err != nil {
		return err
	}
	if got := replySequence(b); got != seq {
		return fmt.Errorf("sequence number %d answers no request in flight", got)
	}
	return checkAnswer(b, cmd)
}

// checkAnswer is the rest of CheckReply, for a reply whose header and
// sequence number were already found good.
func checkAnswer(b []byte, cmd uint16) error {
	if got := replyCommand(b); got != cmd {
		return fmt.Errorf("reply names command %d, request was %d", got, cmd)
	}
	if status := replyStatus(b); status != StatusSuccess {
		return &StatusError{Command: CommandName(cmd), Status: status}
	}
	rt := ReplyType(b)
	answers := false
	for _, want := range replyTypes[cmd] {
		answers = answers || rt == want
	}
	if !answers {
		return fmt.Errorf("reply type %d does not answer a %s request", rt, CommandName(cmd))
	}
	if got, want := len(b)-ReplyHeaderLen, replyBodyLen[rt]; got < want {
		return fmt.Errorf("truncated %s reply: %d bytes of data, want %d", CommandName(cmd), got, want)
	}
	return nil
}
