#!/usr/bin/env bash
# Regenerates the mdatagen output of every directory given (the receiver and
# the node components) and fails when anything changed: metadata.yaml is the
# one place for a component's type, stability and metric facts, and the
# generated code, tests and documentation.md must say the same. Works on
# uncommitted trees too.
#   check-generated.sh MDATAGEN DIR...
set -euo pipefail
mdatagen=$1
shift
if [ $# -eq 0 ]; then
	echo "check-generated: no directory given (usage: $0 MDATAGEN DIR...)" >&2
	exit 2
fi
status=0
for dir in "$@"; do
	if [ ! -f "$dir/metadata.yaml" ]; then
		echo "check-generated: $dir has no metadata.yaml" >&2
		exit 2
	fi
	# Names with their sums, so that a generated file mdatagen adds or
	# removes shows as a difference too.
	sums() { (cd "$dir" && find . \( -name 'generated_*' -o -name documentation.md \) -type f | sort | xargs -r sha256sum); }
	before=$(sums)
	(cd "$dir" && "$mdatagen" metadata.yaml) || { echo "check-generated: mdatagen failed on $dir/metadata.yaml" >&2; exit 1; }
	gofmt -w "$dir"
	after=$(sums)
	if [ "$before" != "$after" ]; then
		diff <(echo "$before") <(echo "$after") || true
		echo "check-generated: the files above were out of date with $dir/metadata.yaml and have been regenerated; commit them" >&2
		status=1
	else
		echo "check-generated: $dir matches metadata.yaml"
	fi
done
exit $status
