#!/usr/bin/env bash
# Regenerates the receiver's mdatagen output and fails when anything changed:
# metadata.yaml is the one place for metric facts, and the generated code and
# documentation.md must say the same. Works on uncommitted trees too.
set -euo pipefail
mdatagen=$1
dir=$2
sums() { (cd "$dir" && find . -name 'generated_*' -o -name documentation.md | sort | xargs sha256sum); }
before=$(sums)
(cd "$dir" && "$mdatagen" metadata.yaml)
gofmt -w "$dir"
after=$(sums)
if [ "$before" != "$after" ]; then
	diff <(echo "$before") <(echo "$after") || true
	echo "check-generated: the files above were out of date with $dir/metadata.yaml and have been regenerated; commit them" >&2
	exit 1
fi
echo "check-generated: $dir matches metadata.yaml"
