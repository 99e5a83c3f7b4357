#!/usr/bin/env python3
# Runs on a netsim host (bench:fanout): watches eth0 with an AF_PACKET socket and prints one JSON
# line per WebSocket message that starts a TCP segment to a member port range, with the host
# CLOCK_MONOTONIC time at which this process saw it (the clock every benchmark process shares).
# The leader is the WebSocket client, so its frames are masked: they are unmasked to read "type" and "rev".
# With NTP_PORT it also counts the UDP datagrams this host sends from that port (the leader's NTP
# answers) and prints the running total once a second: {"ntp_out": N, "t": ns}.
#   python3 fanout-sniffer.py PORT_LO PORT_HI [NTP_PORT]
import json
import re
import socket
import struct
import sys
import time

ETH_P_ALL = 3
PACKET_OUTGOING = 4
HEAD_BYTES = 120  # enough for {"type":"timeline","rev":N

def main() -> None:
    lo, hi = int(sys.argv[1]), int(sys.argv[2])
    ntp_port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    ntp_out, ntp_printed = 0, time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind(("eth0", 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    print(json.dumps({"ready": True}), flush=True)
    pat = re.compile(rb'"type":"([a-z]+)"(?:,"rev":([0-9]+))?')
    while True:
        pkt, addr = s.recvfrom(65535)
        t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        if ntp_port:
            if t - ntp_printed >= 1_000_000_000:
                print(json.dumps({"ntp_out": ntp_out, "t": t}), flush=True)
                ntp_printed = t
            if (len(pkt) >= 42 and pkt[12:14] == b"\x08\x00" and pkt[23] == 17 and addr[2] == PACKET_OUTGOING
                    and struct.unpack("!H", pkt[14 + (pkt[14] & 15) * 4:][:2])[0] == ntp_port):
                ntp_out += 1
                continue
        if len(pkt) < 54 or pkt[12:14] != b"\x08\x00" or pkt[23] != 6:
            continue
        ihl = (pkt[14] & 15) * 4
        total = struct.unpack("!H", pkt[16:18])[0]
        ip = pkt[14:14 + total]
        tcp = ip[ihl:]
        if len(tcp) < 20:
            continue
        sport, dport = struct.unpack("!HH", tcp[:4])
        if not (lo <= dport <= hi):
            continue
        payload = tcp[(tcp[12] >> 4) * 4:]
        # a segment can carry several small frames (e.g. a pong, then the timeline): walk them
        pos = 0
        while pos + 6 <= len(payload):
            try:
                found, pos = frame_at(payload, pos, pat)
            except (struct.error, IndexError):
                break
            if found is None:
                break
            if found is not True:
                print(json.dumps({
                    "t": t,
                    "out": addr[2] == PACKET_OUTGOING,
                    "dst": socket.inet_ntoa(ip[16:20]),
                    "dport": dport,
                    "type": found[0],
                    "rev": found[1],
                }), flush=True)


def frame_at(payload: bytes, pos: int, pat: "re.Pattern[bytes]"):
    """Parses the WebSocket frame at pos: ((type, rev) | True if not a message we know | None if
    not a frame header, next position)."""
    b0, b1 = payload[pos], payload[pos + 1]
    if b0 & 0x70 or (b0 & 15) not in (0, 1, 2, 8, 9, 10):
        return None, pos
    ln, off = b1 & 127, pos + 2
    if ln == 126:
        ln, off = struct.unpack("!H", payload[off:off + 2])[0], off + 2
    elif ln == 127:
        ln, off = struct.unpack("!Q", payload[off:off + 8])[0], off + 8
    key = b""
    if b1 & 128:
        key = payload[off:off + 4]
        off += 4
    data = payload[off:off + min(ln, HEAD_BYTES)]
    if key:
        data = bytes(c ^ key[i % 4] for i, c in enumerate(data))
    m = pat.search(data) if (b0 & 15) in (1, 2) else None
    found = (m.group(1).decode(), int(m.group(2)) if m.group(2) else None) if m else True
    return found, off + ln


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
