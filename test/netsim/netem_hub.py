#!/usr/bin/env python3
"""Userspace 'netem' switch for test/netsim: this kernel has no sch_netem, so Ethernet frames
are switched between veth ports (in the hub namespace, no bridge) by this process, which adds
per-port delay, normally distributed jitter, loss and a silent 'down' (blackhole).
python3 stdlib only (AF_PACKET).

usage: python3 netem_hub.py CONFIG.json PORT [PORT...]
CONFIG.json (re-read when its mtime changes):
  {"veth-member1": {"delay_ms": 5, "jitter_ms": 3, "loss": 0.01, "down": false, "rate_kbit": 1000},
   "reorder": false}
"rate_kbit" (0 or absent: unlimited) serialises the frames through that port at that rate, each
direction on its own, like a slow link: a frame waits for the ones before it on the same port.
A port's impairment applies to every frame entering AND leaving through it, so the one-way
delay A->B = sample(A) + sample(B); with the leader's port clean, leader<->member one-way
delay is one sample of the member's port in each direction (symmetric in distribution).
Delays count from the kernel's receive timestamp of the frame (SO_TIMESTAMPNS), not from when
this process got around to reading it, so the hub's own wake-up latency (larger when it was idle,
i.e. for a request than for the reply that follows it) is absorbed whenever the configured delay
exceeds it; the timer slack is set to 1 us for the same reason.
Without "reorder": true frames keep FIFO order per (ingress, egress) port pair, so jitter
never reorders one host's frames to another (like WiFi) while one host's slow frame never
holds back another host's frames (a shared egress FIFO would, and would bias NTP offsets).
A port with "flows": true keeps that order per IPv4 flow (addresses, protocol, ports) instead:
for a simulated host that stands for many devices (bench:fanout's light members, each with its
own sockets), so one device's slow frame does not hold back the others' as if they shared a
station's queue. Each flow's frames still never reorder.
"""
import ctypes, heapq, json, os, random, select, signal, socket, struct, sys, time

ETH_P_ALL, SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC, PACKET_OUTGOING = 3, 263, 1, 1, 4
CFG_POLL_S = 0.2            # how often the config file's mtime is checked
MAX_QUEUED_FRAMES = 20000   # bound memory when a test floods a delayed port (excess = loss)
MAX_FRAME_BYTES = 65536
SO_TIMESTAMPNS = 35         # linux/socket.h; ancillary data type SCM_TIMESTAMPNS is the same
PR_SET_TIMERSLACK = 29
TIMER_SLACK_NS = 1000       # default 50 us would add up to 50 us of one-sided delay per frame

cfg_path, ports = sys.argv[1], sys.argv[2:]
cfg, cfg_mtime = {}, None


def load_cfg():
    global cfg, cfg_mtime
    try:
        m = os.stat(cfg_path).st_mtime_ns
        if m != cfg_mtime:
            with open(cfg_path) as f:
                new = json.load(f)
            if isinstance(new, dict):
                cfg = new
            cfg_mtime = m
            print(f"[hub] config: {json.dumps(cfg)}", flush=True)
    except (OSError, ValueError) as e:
        print(f"[hub] config not loaded: {e}", flush=True)


socks, by_fd = {}, {}
for p in ports:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((p, ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP,
                 struct.pack("iHH8s", socket.if_nametoindex(p), PACKET_MR_PROMISC, 0, b""))
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setblocking(False)
    socks[p] = s
    by_fd[s.fileno()] = p

mac_table = {}          # src MAC -> port (learning switch)
heap, seq = [], 0       # (due, seq, egress_port, frame)
last_due = {}           # (ingress, egress[, flow]) -> due time of the last frame queued on that key
link_free = {}          # (port, "in" | "out") -> when a rate-limited port has sent its queued frames
stats = {"rx": 0, "tx": 0, "drop": 0, "overflow": 0}


def imp(port):
    c = cfg.get(port)
    return c if isinstance(c, dict) else {}


def sample(port):
    """delay in seconds for one pass through port, or None to drop the frame"""
    c = imp(port)
    try:
        if c.get("down"):
            return None
        if random.random() < float(c.get("loss", 0)):
            return None
        d = float(c.get("delay_ms", 0)) + float(c.get("jitter_ms", 0)) * random.gauss(0, 1)
    except (TypeError, ValueError):
        return 0.0
    return max(d, 0.0) / 1000.0


def serialise(port, direction, due, nbytes):
    """due time of a frame after the port's rate limit (each direction a link of its own)"""
    try:
        kbit = float(imp(port).get("rate_kbit", 0) or 0)
    except (TypeError, ValueError):
        kbit = 0.0
    if kbit <= 0:
        return due
    key = (port, direction)
    done = max(due, link_free.get(key, 0.0)) + nbytes * 8 / (kbit * 1000.0)
    link_free[key] = done
    return done


def rx_time(anc):
    """kernel receive time of a frame on the time.monotonic() scale, or now if unavailable"""
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec / 1e9 - (time.time() - time.monotonic())
    return time.monotonic()


def flow_of(frame):
    """(src, dst, protocol, ports) of an IPv4 frame, or None: the key of one device's stream"""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ihl = (frame[14] & 0x0F) * 4
    proto = frame[23]
    ports_ = frame[14 + ihl:18 + ihl] if proto in (6, 17) else b""
    return (frame[26:30], frame[30:34], proto, ports_)


def on_frame(inport, frame, now):
    global seq
    stats["rx"] += 1
    if len(frame) < 14:
        return
    dst, src = frame[0:6], frame[6:12]
    mac_table[src] = inport
    d_in = sample(inport)
    if d_in is None:
        stats["drop"] += 1
        return
    if dst[0] & 1 or dst not in mac_table:       # broadcast/multicast/unknown: flood
        outs = [p for p in ports if p != inport]
    else:
        outs = [mac_table[dst]] if mac_table[dst] != inport else []
    for out in outs:
        d_out = sample(out)
        if d_out is None:
            stats["drop"] += 1
            continue
        if len(heap) >= MAX_QUEUED_FRAMES:
            stats["overflow"] += 1
            continue
        due = serialise(out, "out", serialise(inport, "in", now + d_in, len(frame)) + d_out, len(frame))
        if not cfg.get("reorder"):
            key = (inport, out)
            if imp(inport).get("flows") is True or imp(out).get("flows") is True:
                key = (inport, out, flow_of(frame))
            due = max(due, last_due.get(key, 0.0))
            last_due[key] = due
        seq += 1
        heapq.heappush(heap, (due, seq, out, frame))


running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)

try:   # best effort: without it the hub still works, with up to 50 us coarser timing
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0)
except (OSError, AttributeError):
    pass
load_cfg()
print(f"[hub] pid {os.getpid()} switching {ports}", flush=True)
fds = list(by_fd)   # select() (not epoll) for microsecond timeout precision
next_cfg_check = 0.0
while running:
    now = time.monotonic()
    timeout = 0.1 if not heap else min(0.1, max(0.0, heap[0][0] - now))
    try:
        ready, _, _ = select.select(fds, [], [], timeout)
    except InterruptedError:
        continue
    for fd in ready:
        p = by_fd[fd]
        s = socks[p]
        for _ in range(1000):        # bounded drain per wakeup so queued frames still go out
            try:
                frame, anc, _flags, addr = s.recvmsg(MAX_FRAME_BYTES, 64)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:          # e.g. ENETDOWN while the peer's carrier is down
                break
            if addr[2] == PACKET_OUTGOING:   # our own transmissions
                continue
            on_frame(p, frame, rx_time(anc))
    now = time.monotonic()
    while heap and heap[0][0] <= now:
        _, _, out, frame = heapq.heappop(heap)
        try:
            socks[out].send(frame)
            stats["tx"] += 1
        except OSError:              # port down / frame too big: counts as loss
            stats["drop"] += 1
    if now >= next_cfg_check:
        load_cfg()
        next_cfg_check = now + CFG_POLL_S
print(f"[hub] exit {stats}", flush=True)
