#!/usr/bin/env bash
# Router throughput: `metlog bench` sends framed protobuf messages (256-byte
# payloads, unique sequence numbers) over N TCP connections into metlogd,
# whose file output writes them as JSON lines; the run ends when every
# message is in the file. Prints one key=value line per run: messages/s
# and MiB/s (from the first send to the last message on disk), metlogd's
# CPU (cores used) and peak RSS, and the count check.
#
#   scripts/bench-router.sh                 # 3 runs of 2,000,000 messages, 4 connections
#   RUNS=5 N=1000000 CONNS=1 scripts/bench-router.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
N=${N:-2000000}
CONNS=${CONNS:-4}
SIZE=${SIZE:-256}
PORT=${PORT:-15565}
HTTP_PORT=${HTTP_PORT:-14352}
WORK=${WORK:-$(mktemp -d /tmp/metlog-bench.XXXXXX)}

bin=$WORK/bin
mkdir -p "$bin"
go build -o "$bin/" ./cmd/metlogd ./cmd/metlog

cat > "$WORK/tcp2file.toml" <<EOF
[metlogd]
data_dir = "$WORK/data"
http_listen = "127.0.0.1:$HTTP_PORT"

[tcp]
type = "tcp_input"
address = "127.0.0.1:$PORT"
format = "heka"

[file]
type = "file_output"
message_matcher = "TRUE"
path = "$WORK/data/out.jsonl"
encoder = "json"
when_full = "block"
EOF

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for run in $(seq 1 "$RUNS"); do
  rm -rf "$WORK/data"
  "$bin/metlogd" -config "$WORK/tcp2file.toml" > "$WORK/metlogd.out" 2> "$WORK/metlogd.err" &
  pid=$!
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
    sleep 0.05
  done
  t0=$(date +%s.%N)
  c0=$(cpu_ticks "$pid")
  "$bin/metlog" bench -addr "127.0.0.1:$PORT" -proto tcp -format framed -conns "$CONNS" -n "$N" \
    -size "$SIZE" -unique > "$WORK/send.txt"
  # Wait until every message is on disk.
  until "$bin/metlog" bench -count-file "$WORK/data/out.jsonl" -expect "$N" > "$WORK/count.txt" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "metlogd died"; cat "$WORK/metlogd.err"; exit 1; }
    sleep 0.02
  done
  t1=$(date +%s.%N)
  c1=$(cpu_ticks "$pid")
  rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid" || true
  bytes=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^bytes=/) {sub("bytes=", "", $i); print $i}}' "$WORK/send.txt")
  awk -v n="$N" -v b="$bytes" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v clk="$clk" \
      -v rss="$rss_kib" -v run="$run" -v conns="$CONNS" -v count="$(cat "$WORK/count.txt")" 'BEGIN {
    s = t1 - t0
    split(count, kv, " ")
    landed = ""
    for (i in kv) if (kv[i] ~ /^(unique|duplicates|lost)=/) landed = landed " file_" kv[i]
    printf "run=%d conns=%d messages=%d secs=%.3f msgs_per_s=%.0f mib_per_s=%.1f metlogd_cores=%.2f peak_rss_mib=%.1f%s\n",
      run, conns, n, s, n / s, b / s / 1048576, (c1 - c0) / clk / s, rss / 1024, landed
  }'
done
rm -rf "$WORK"
