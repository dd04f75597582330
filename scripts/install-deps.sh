#!/usr/bin/env bash
# Installs the Debian packages the tests and `make run` use: chrony (chronyd,
# chronyc), prometheus (the server and promtool), and for the evidence
# report's tests chromium (renders report.html headless) and poppler-utils
# (pdftoppm renders report.pdf), and qemu-user (runs the image's arm64
# binaries), and npm's azurite (the Azure Storage emulator the Blob Storage
# tests of chrony-evidence run), pinned with its lock file in
# scripts/azurite and installed with npm ci into .tools/azurite, with Debian's
# nodejs and npm when the machine has no npm. Does nothing when they are
# there; needs root or sudo otherwise.
# Only when asked for by argument (make test-cluster does): containerd, runc
# and containernetworking-plugins, the container runtime and the CNI plugins
# of the single-node cluster in test/cluster.
set -euo pipefail

# With arguments, only those packages are considered (make run asks for chrony).
wanted=("${@:-chrony prometheus chromium poppler-utils qemu-user azurite}")
wanted=(${wanted[*]})
missing=()
root="$(cd "$(dirname "$0")/.." && pwd)"
azurite_dir="$root/.tools/azurite"
azurite_version=$(sed -n 's/.*"azurite": "\([0-9.]*\)".*/\1/p' "$root/scripts/azurite/package.json")
azurite=no
for pkg in "${wanted[@]}"; do
	case $pkg in
	azurite)
		if [ "$("$azurite_dir/node_modules/.bin/azurite-blob" --version 2>/dev/null)" != "$azurite_version" ] ||
			! cmp -s "$root/scripts/azurite/package-lock.json" "$azurite_dir/package-lock.json"; then
			azurite=yes
			command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
		fi
		;;
	chrony) command -v chronyd >/dev/null 2>&1 || [ -x /usr/sbin/chronyd ] || missing+=(chrony) ;;
	prometheus) { command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; } || missing+=(prometheus) ;;
	chromium) command -v chromium >/dev/null 2>&1 || missing+=(chromium) ;;
	poppler-utils) command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils) ;;
	qemu-user) command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user) ;;
	containerd) { command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1; } || missing+=(containerd) ;;
	runc) command -v runc >/dev/null 2>&1 || missing+=(runc) ;;
	containernetworking-plugins) [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] || missing+=(containernetworking-plugins) ;;
	*) missing+=("$pkg") ;;
	esac
done
install_azurite() {
	[ "$azurite" = yes ] || return 0
	echo "install-deps: installing azurite $azurite_version from npm into .tools/azurite"
	rm -rf "$azurite_dir"
	mkdir -p "$azurite_dir"
	cp "$root/scripts/azurite/package.json" "$root/scripts/azurite/package-lock.json" "$azurite_dir/"
	(cd "$azurite_dir" && npm ci --no-audit --no-fund --loglevel=error)
	"$azurite_dir/node_modules/.bin/azurite-blob" --version >/dev/null
}

if [ ${#missing[@]} -eq 0 ]; then
	install_azurite
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: need ${missing[*]}, and this is not a Debian or Ubuntu machine: install them by hand" >&2
	exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-deps: need ${missing[*]}: run as root or install sudo" >&2
		exit 1
	fi
	sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# --no-install-recommends keeps the server packages from pulling in extras.
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_azurite
