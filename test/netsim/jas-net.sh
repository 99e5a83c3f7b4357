#!/usr/bin/env bash
# jas-net.sh - simulated hosts for JAudioSync tests and benchmarks (root, non-interactive).
#   up [N]                         leader + member1..N (default 2, max 32) on 10.99.0.0/24
#   impair HOST DELAY_MS JITTER_MS LOSS_PCT   e.g. impair member1 5 3 1  (0 0 0 = clean)
#   rate HOST KBIT                 limit HOST's link to KBIT kbit/s each way (0 = unlimited)
#   flows HOST on|off              keep frame order per IPv4 flow, not per host (a host that stands
#                                  for many devices, e.g. bench:fanout's light members)
#   blackhole HOST on|off          silently drop all of HOST's frames (no carrier change)
#   link HOST down|up              carrier down/up on HOST's eth0 (routes restored on up)
#   exec HOST CMD...               run CMD "on" HOST: netns + own hostname + /etc/hosts (+ binds)
#   bind HOST SRC DST              every later `exec` on HOST sees SRC at DST (a bind mount in its
#                                  private mount namespace), e.g. a per-host /run or config dir
#   wire A IFA IPA/LEN B IFB IPB/LEN   a second, direct link between hosts A and B (a veth pair, not
#                                  through the hub): IFA on A, IFB on B, each with its address
#   ping A B [count]               ping from host A to host B
#   down                           kill what runs in our namespaces, delete them, remove state
#   gc                             run `down` for every simulation under /tmp/jasnet whose owner
#                                  process (JAS_NETSIM_OWNER=pid at `up`, set by netsim.ts) is dead
# Several simulations may run at once: each has its own namespace prefix and state dir.
#   JAS_NETSIM_PREFIX  namespace prefix (default for `up`: jas<pid>-; later read from the state dir)
#   JAS_STATE          state dir (default /tmp/jasnet/<prefix>); `up` prints both as exports.
# The kernel here has no sch_netem, so frames are switched by a userspace hub (netem_hub.py,
# python3 stdlib) in namespace <prefix>hub; nothing in the root namespace is touched and no
# frame can leave the simulated LAN.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
MAX_MEMBERS=32                      # 10.99.0.2..33; port names veth-member32 fit IFNAMSIZ (15)
HUB_CFG_POLL_S=0.3                  # hub re-reads its config every 0.2 s

PREFIX=${JAS_NETSIM_PREFIX:-}
STATE=${JAS_STATE:-}
cmd=${1:-}
GC_ROOT=/tmp/jasnet

proc_start() { awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null || true; }  # starttime

if [ "$cmd" = gc ]; then   # before prefix handling: works on every state dir
  for owner in "$GC_ROOT"/*/owner; do
    [ -f "$owner" ] || continue
    read -r opid ostart < "$owner" || continue
    if [ -n "$opid" ] && [ "$(proc_start "$opid")" = "$ostart" ]; then continue; fi   # owner alive
    d=$(dirname "$owner"); echo "gc: removing simulation $(cat "$d/prefix" 2>/dev/null) (owner $opid gone)" >&2
    JAS_STATE="$d" JAS_NETSIM_PREFIX= "$0" down || true
  done
  exit 0
fi
if [ -z "$STATE" ] && [ -z "$PREFIX" ]; then
  if [ "$cmd" = up ]; then PREFIX="jas$$-"; else
    echo "jas-net.sh: set JAS_STATE (or JAS_NETSIM_PREFIX) to the values printed by 'up'" >&2; exit 2
  fi
fi
[ -n "$STATE" ] || STATE="/tmp/jasnet/$PREFIX"
if [ -z "$PREFIX" ] && [ -f "$STATE/prefix" ]; then PREFIX=$(cat "$STATE/prefix"); fi
if ! [[ "$PREFIX" =~ ^[A-Za-z0-9_.-]{1,40}$ ]]; then
  echo "jas-net.sh: bad or unknown prefix '$PREFIX' (state $STATE)" >&2; exit 2
fi

ns()   { echo "$PREFIX$1"; }
ipof() {
  case $1 in
    leader) echo 10.99.0.1 ;;
    member[0-9]|member[0-9][0-9]) local k=${1#member}; k=$((10#$k))
      if [ "$k" -ge 1 ] && [ "$k" -le "$MAX_MEMBERS" ]; then echo "10.99.0.$((k + 1))"; return; fi
      echo "bad host $1" >&2; exit 2 ;;
    *) echo "bad host $1" >&2; exit 2 ;;
  esac
}
hosts() { cat "$STATE/hosts.list" 2>/dev/null || true; }
known() { ipof "$1" >/dev/null; grep -qx "$1" "$STATE/hosts.list" || { echo "no host $1 in $STATE" >&2; exit 2; }; }

set_cfg() {  # set_cfg HOST JSON : merge into the hub config with an atomic rewrite
  python3 - "$STATE/hub.json" "veth-$1" "$2" <<'EOF'
import json, os, sys
path, port, val = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with open(path) as f:
    cfg = json.load(f)
cur = cfg.get(port, {}); cur.update(val); cfg[port] = cur
with open(path + ".tmp", "w") as f:
    f.write(json.dumps(cfg))
os.replace(path + ".tmp", path)
EOF
  sleep "$HUB_CFG_POLL_S"
}

teardown() {
  for h in $(hosts); do     # whatever still runs inside OUR namespaces
    for pid in $(ip netns pids "$(ns "$h")" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  done
  if [ -f "$STATE/hub.pid" ]; then
    pid=$(cat "$STATE/hub.pid"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  for h in $(hosts); do   # second pass: SIGKILL what ignored SIGTERM
    for pid in $(ip netns pids "$(ns "$h")" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  done
  for h in $(hosts) hub; do ip netns del "$(ns "$h")" 2>/dev/null || true; done
  rm -rf "$STATE"
}

case "$cmd" in
up)
  n=${2:-2}
  if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt "$MAX_MEMBERS" ]; then
    echo "up: member count must be 1..$MAX_MEMBERS" >&2; exit 2
  fi
  if [ -e "$STATE/hosts.list" ] || ip netns list | grep -q "^$(ns hub)\b"; then
    echo "up: $STATE or namespace $(ns hub) already exists (run down first)" >&2; exit 2
  fi
  mkdir -p "$STATE"; echo "$PREFIX" > "$STATE/prefix"; : > "$STATE/hosts.list"
  if [ -n "${JAS_NETSIM_OWNER:-}" ]; then echo "$JAS_NETSIM_OWNER $(proc_start "$JAS_NETSIM_OWNER")" > "$STATE/owner"; fi
  echo '{}' > "$STATE/hub.json"
  trap 'echo "up failed, tearing down" >&2; teardown' ERR
  printf '127.0.0.1 localhost\n::1 localhost\n' > "$STATE/hosts"
  ip netns add "$(ns hub)"; ip -n "$(ns hub)" link set lo up
  ports=()
  for h in leader $(seq -f 'member%g' 1 "$n"); do
    ip=$(ipof "$h"); echo "$h" >> "$STATE/hosts.list"; echo "$ip $h" >> "$STATE/hosts"
    ip netns add "$(ns "$h")"
    ip -n "$(ns hub)" link add "veth-$h" type veth peer name eth0 netns "$(ns "$h")"
    ip -n "$(ns "$h")" -b - <<EOF
link set lo up
addr add $ip/24 dev eth0
link set eth0 up
route add 224.0.0.0/4 dev eth0
EOF
    # frames are copied through userspace: no checksum/segmentation offload on either end
    ip netns exec "$(ns "$h")" ethtool -K eth0 tx off tso off gso off >/dev/null
    ip netns exec "$(ns hub)" ethtool -K "veth-$h" tx off tso off gso off gro off >/dev/null
    ip -n "$(ns hub)" link set "veth-$h" up
    ports+=("veth-$h")
  done
  # setsid: the hub survives the caller's process group and is killed only by `down`
  ip netns exec "$(ns hub)" setsid python3 "$HERE/netem_hub.py" "$STATE/hub.json" "${ports[@]}" \
     > "$STATE/hub.log" 2>&1 < /dev/null &
  echo $! > "$STATE/hub.pid"
  for _ in $(seq 100); do grep -q switching "$STATE/hub.log" 2>/dev/null && break; sleep 0.05; done
  grep -q switching "$STATE/hub.log" || { echo "hub did not start:" >&2; cat "$STATE/hub.log" >&2; false; }
  trap - ERR
  echo "export JAS_NETSIM_PREFIX=$PREFIX JAS_STATE=$STATE"
  echo "up: $(hosts | tr '\n' ' ')hub pid $(cat "$STATE/hub.pid")" >&2
  ;;
impair)  # HOST DELAY_MS JITTER_MS LOSS_PCT
  [ $# -eq 5 ] || { echo "usage: impair HOST DELAY_MS JITTER_MS LOSS_PCT" >&2; exit 2; }
  known "$2"
  for v in "$3" "$4" "$5"; do [[ "$v" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "impair: bad number $v" >&2; exit 2; }; done
  set_cfg "$2" "{\"delay_ms\": $3, \"jitter_ms\": $4, \"loss\": $(python3 -c "print($5/100)")}" ;;
flows)  # HOST on|off: frame order kept per IPv4 flow instead of per host (a host standing for many devices)
  known "$2"; [[ "${3:-}" =~ ^(on|off)$ ]] || { echo "usage: flows HOST on|off" >&2; exit 2; }
  set_cfg "$2" "{\"flows\": $([ "$3" = on ] && echo true || echo false)}" ;;
rate)  # HOST KBIT
  [ $# -eq 3 ] && [[ "$3" =~ ^[0-9]+$ ]] || { echo "usage: rate HOST KBIT" >&2; exit 2; }
  known "$2"; set_cfg "$2" "{\"rate_kbit\": $3}" ;;
blackhole)
  known "$2"; [[ "${3:-}" =~ ^(on|off)$ ]] || { echo "usage: blackhole HOST on|off" >&2; exit 2; }
  set_cfg "$2" "{\"down\": $([ "$3" = on ] && echo true || echo false)}" ;;
link)
  known "$2"; [[ "${3:-}" =~ ^(up|down)$ ]] || { echo "usage: link HOST up|down" >&2; exit 2; }
  ip -n "$(ns "$2")" link set eth0 "$3"
  if [ "$3" = up ]; then ip -n "$(ns "$2")" route replace 224.0.0.0/4 dev eth0; fi ;;
exec)
  h=${2:-}; known "$h"; shift 2
  # own UTS namespace -> os.hostname() == HOST; private bind of /etc/hosts (ip netns exec
  # already gives the command its own mount namespace, so the host's file is untouched).
  # Then the host's binds (lines "SRC DST"; paths without whitespace, checked by `bind`).
  # Every step execs, so the caller's child pid is the command itself (signals reach it).
  exec ip netns exec "$(ns "$h")" unshare --uts sh -c \
    'hostname "$0"; mount --bind "$1" /etc/hosts
     if [ -f "$2" ]; then while read -r s d; do mount --bind "$s" "$d" || exit 1; done < "$2"; fi
     shift 2; exec "$@"' "$h" "$STATE/hosts" "$STATE/binds.$h" "$@" ;;
bind)
  [ $# -eq 4 ] || { echo "usage: bind HOST SRC DST" >&2; exit 2; }
  known "$2"
  for p in "$3" "$4"; do
    [[ "$p" =~ ^/[A-Za-z0-9_./+-]+$ ]] || { echo "bind: path must be absolute, without spaces: $p" >&2; exit 2; }
    [ -e "$p" ] || { echo "bind: $p does not exist" >&2; exit 2; }
  done
  echo "$3 $4" >> "$STATE/binds.$2" ;;
wire)  # A IFA IPA/LEN B IFB IPB/LEN
  [ $# -eq 7 ] || { echo "usage: wire A IFA IPA/LEN B IFB IPB/LEN" >&2; exit 2; }
  known "$2"; known "$5"
  for i in "$3" "$6"; do [[ "$i" =~ ^[a-z][a-z0-9]{0,14}$ ]] || { echo "wire: bad interface name $i" >&2; exit 2; }; done
  for a in "$4" "$7"; do [[ "$a" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]] || { echo "wire: bad address $a" >&2; exit 2; }; done
  ip -n "$(ns "$2")" link add "$3" type veth peer name "$6" netns "$(ns "$5")"
  ip -n "$(ns "$2")" addr add "$4" dev "$3"; ip -n "$(ns "$2")" link set "$3" up
  ip -n "$(ns "$5")" addr add "$7" dev "$6"; ip -n "$(ns "$5")" link set "$6" up ;;
ping)
  known "$2"; known "$3"
  ip netns exec "$(ns "$2")" ping -q -c "${4:-50}" -i 0.02 "$(ipof "$3")" | tail -2 ;;
down)
  teardown; echo down >&2 ;;
*) sed -n '2,18p' "$0"; exit 2 ;;
esac
