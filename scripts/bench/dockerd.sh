# Sourced by the benchmarks: a private Docker engine (Debian's docker.io)
# for side-by-side numbers, started inside the caller's network namespace
# with its own state, no iptables and no bridge, and removed afterwards.
#   start_dockerd [bridge] -> exports DOCKER_HOST; returns non-zero if it cannot run.
#                   `bridge`: with Docker's default bridge (docker0), iptables
#                   and docker-proxy, as a stock engine runs; for benchmarks of
#                   networks and published ports. Only inside a private netns:
#                   the rules (and FORWARD policy DROP) land in the caller's.
#   stop_dockerd
start_dockerd() {
	command -v dockerd >/dev/null || {
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null 2>&1 || return 1
		# The package starts a system engine where it can; the bench wants none.
		systemctl disable --now docker.service docker.socket containerd.service >/dev/null 2>&1 || true
	}
	local net=(--iptables=false --ip6tables=false --bridge=none)
	if [ "${1:-}" = bridge ]; then
		# Refuse the host's namespace: iptables rules there would outlive us.
		[ "$(readlink /proc/self/ns/net)" != "$(readlink /proc/1/ns/net)" ] || return 1
		net=(--iptables=true --ip6tables=false --userland-proxy=true)
	fi
	DOCKERD_DIR=$(mktemp -d /tmp/wharf-bench-dockerd.XXXXXX)
	dockerd --data-root "$DOCKERD_DIR/data" --exec-root "$DOCKERD_DIR/exec" \
		--pidfile "$DOCKERD_DIR/pid" --host "unix://$DOCKERD_DIR/sock" \
		"${net[@]}" >"$DOCKERD_DIR/log" 2>&1 &
	export DOCKER_HOST="unix://$DOCKERD_DIR/sock"
	for _ in $(seq 1 30); do
		docker info >/dev/null 2>&1 && return 0
		sleep 1
	done
	return 1
}

stop_dockerd() {
	[ -n "${DOCKERD_DIR:-}" ] || return 0
	[ -f "$DOCKERD_DIR/pid" ] && kill "$(cat "$DOCKERD_DIR/pid")" 2>/dev/null
	for _ in $(seq 1 20); do
		pgrep -f "$DOCKERD_DIR" >/dev/null || break
		sleep 0.5
	done
	pkill -9 -f "$DOCKERD_DIR" 2>/dev/null || true
	grep -F "$DOCKERD_DIR" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$DOCKERD_DIR"
}
