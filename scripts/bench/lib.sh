# Sourced by the side-by-side benchmarks (scripts/bench/up, scripts/bench/stack)
# after `set -euo pipefail` and `cd` to the repository root.
#   bench_enter "$0" "$@"   on the host: installs hyperfine, builds wharf
#                           (release), fetches Docker Compose v2.40.3 (the
#                           namespace has no route out) and re-execs the
#                           script inside scripts/with-registry; inside it
#                           returns at once.
#   hf NAME FILE CMD [hyperfine options…]
#                           runs CMD ${HF_RUNS:-$runs} times, keeps the JSON
#                           in $work/FILE.json, prints the median in seconds
#                           (the machine may be shared: one stalled run moves
#                           a mean).
bench_enter() {
	[ "${WHARF_BENCH_INSIDE:-}" != 1 ] || return 0
	command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
	cargo build --release --locked -q
	WHARF_BENCH_COMPOSE=$(scripts/reference-compose)
	export WHARF_BENCH_COMPOSE WHARF_BENCH_INSIDE=1
	exec scripts/with-registry "$@"
}

hf() {
	local name=$1 json=$work/$2.json cmd=$3
	shift 3
	hyperfine -N --runs "${HF_RUNS:-$runs}" --export-json "$json" -n "$name" "$@" "$cmd" >&2
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$json"
}
