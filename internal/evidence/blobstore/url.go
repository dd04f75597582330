// Package blobstore keeps evidence reports in an Azure Blob Storage
// container through the Blob API, write-once: every blob of a report is
// created by one conditional upload that refuses to replace an existing
// blob (If-None-Match: *), the manifest last, and nothing is ever deleted.
// A run that stopped half-way is completed by the next run for the same
// period, which renders the same bytes again (the first attempt's marker,
// MarkerName, holds its generation time and parameters), checks every blob
// already there against them, and uploads only the missing ones. It also
// reads a report back for `chrony-evidence verify`.
package blobstore

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// Location is where a report lives: a prefix (a "directory") in a
// container.
type Location struct {
	// ContainerURL is scheme://host/container, or for the storage
	// emulator's path style scheme://ip:port/account/container.
	ContainerURL string
	Account      string
	Container    string
	// Prefix names the report's blobs, PREFIX/manifest.json and so on;
	// never empty, no leading or trailing slash.
	Prefix string
	// Emulator is the path style of a storage emulator (Azurite), which
	// an IP address as the host stands for.
	Emulator bool
}

// IsURL says whether --out or verify's argument names a URL rather than a
// local directory.
func IsURL(s string) bool { return strings.Contains(s, "://") }

// Join is raw, a container URL with a prefix, with sub appended as one more
// level of the prefix.
func Join(raw, sub string) string { return strings.TrimSuffix(raw, "/") + "/" + sub }

// containerName is Azure's rule: 3 to 63 lowercase letters, digits and
// single hyphens, starting and ending with a letter or digit.
var containerName = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)

// ParseURL reads https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX, or
// the emulator's http(s)://IP:PORT/ACCOUNT/CONTAINER/PREFIX: a report's
// location.
func ParseURL(raw string) (Location, error) { return parseURL(raw, true) }

// ParseShelfURL reads a container URL whose prefix may be empty: where
// reports are kept side by side, each one level further down.
func ParseShelfURL(raw string) (Location, error) { return parseURL(raw, false) }

// Split is the URL of the shelf a report's URL is on, and the report's name
// there: its prefix's last level.
func Split(raw string) (shelf, name string, err error) {
	loc, err := ParseURL(raw)
	if err != nil {
		return "", "", err
	}
	if i := strings.LastIndex(loc.Prefix, "/"); i >= 0 {
		return loc.ContainerURL + "/" + loc.Prefix[:i], loc.Prefix[i+1:], nil
	}
	return loc.ContainerURL, loc.Prefix, nil
}

func parseURL(raw string, prefixRequired bool) (Location, error) {
	const form = "https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX (or an emulator's http://127.0.0.1:10000/devstoreaccount1/CONTAINER/PREFIX)"
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, fmt.Errorf("%q is not a container URL such as %s: %v", raw, form, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.User != nil {
		return Location{}, fmt.Errorf("%q is not a container URL such as %s", raw, form)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Location{}, fmt.Errorf("%s: a container URL without a query (a SAS is not used: the tool signs in with workload identity)", redact(u))
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	loc := Location{Emulator: net.ParseIP(u.Hostname()) != nil}
	if loc.Emulator {
		if len(segs) < 1 || segs[0] == "" {
			return Location{}, fmt.Errorf("%s: an emulator's URL names the account first: %s", raw, form)
		}
		loc.Account, segs = segs[0], segs[1:]
	} else {
		loc.Account, _, _ = strings.Cut(u.Hostname(), ".")
		if u.Scheme != "https" {
			return Location{}, fmt.Errorf("%s: storage is reached over https only (http is for an emulator on an IP address)", raw)
		}
	}
	if len(segs) == 0 || !containerName.MatchString(segs[0]) {
		return Location{}, fmt.Errorf("%s: no valid container name after the account (3 to 63 lowercase letters, digits and hyphens): %s", raw, form)
	}
	loc.Container, segs = segs[0], segs[1:]
	if len(segs) == 0 && prefixRequired {
		return Location{}, fmt.Errorf("%s: name a prefix for the report after the container, as in %s", raw, form)
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "\\\x00") {
			return Location{}, fmt.Errorf("%s: the prefix %q has an empty, '.' or '..' level, or a backslash", raw, strings.Join(segs, "/"))
		}
	}
	loc.Prefix = strings.Join(segs, "/")
	base := u.Scheme + "://" + u.Host
	if loc.Emulator {
		base += "/" + loc.Account
	}
	loc.ContainerURL = base + "/" + loc.Container
	return loc, nil
}

// String is the report's URL.
func (l Location) String() string {
	if l.Prefix == "" {
		return l.ContainerURL
	}
	return l.ContainerURL + "/" + l.Prefix
}

// blobName is the name of one file of the report in the container.
func (l Location) blobName(file string) string {
	if l.Prefix == "" {
		return file
	}
	return l.Prefix + "/" + file
}

// under is the location one level further down the prefix.
func (l Location) under(name string) Location {
	l.Prefix = l.blobName(name)
	return l
}

func redact(u *url.URL) string {
	v := *u
	v.RawQuery, v.Fragment, v.User = "", "", nil
	return v.String()
}
