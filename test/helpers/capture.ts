/**
 * Packet capture inside a test network (see netns.ts) with tcpdump, and what
 * a test needs to read the result: the pcap file's packets, TCP payloads
 * reassembled per direction, and a search for a marker in both.
 *
 * A "never in clear" assertion is only worth something when the same search
 * does find the marker in a plaintext run and packets were captured at all;
 * test/integration/netns-harness.test.ts proves both.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, type Network } from "./netns.ts";

export interface CaptureOptions {
  /** Interface to capture on; default the host's interface ("eth0"), or "br0" for the bridge. */
  iface?: string;
  /** Capture only TCP traffic to or from these ports (`tcp port P or tcp port Q ...`). */
  ports?: readonly number[];
  /** A tcpdump filter expression; overrides `ports`. Default: all traffic. */
  filter?: string;
  /** Where to write the pcap; default a temporary file removed by stop(). */
  file?: string;
  /** How long to wait for tcpdump to be listening; default 5000 ms. */
  readyTimeoutMs?: number;
}

export interface Capture {
  /** The pcap file being written. */
  readonly file: string;
  readonly process: ChildProcess;
  /**
   * Waits `settleMs` (default 100 ms) for packets in flight, stops tcpdump,
   * and returns the pcap file's bytes (the file is removed unless it was given).
   */
  stop(settleMs?: number): Promise<Buffer>;
}

/** Whether tcpdump is installed (it runs inside our namespaces, so root is checked by netnsAvailable). */
export function tcpdumpAvailable(): { ok: boolean; reason?: string } {
  return findProgram("tcpdump") ? { ok: true } : { ok: false, reason: "tcpdump is not installed" };
}

/** The filter expression for TCP traffic on any of `ports`. */
export function portFilter(ports: readonly number[]): string {
  if (ports.length === 0) throw new Error("portFilter needs at least one port");
  return ports.map((p) => `tcp port ${p}`).join(" or ");
}

/**
 * Starts tcpdump on `target` (a host name of `net`, the `local` one included,
 * or "bridge" for the segment's bridge, which sees the traffic between every
 * pair of hosts) and
 * resolves once it is listening. The tcpdump process is one of the network's,
 * so net.destroy() ends it if the test never calls stop().
 */
export async function startCapture(net: Network, target: string, opts: CaptureOptions = {}): Promise<Capture> {
  const tcpdump = findProgram("tcpdump");
  if (!tcpdump) throw new Error("tcpdump is not installed");
  const isBridge = target === "bridge" && !(target in net.hosts);
  if (!isBridge && !(target in net.hosts)) throw new Error(`no host "${target}" in the network (hosts: ${Object.keys(net.hosts).join(", ")}, or "bridge")`);
  const ns = isBridge ? net.bridge.ns : net.hosts[target]!.ns;
  const iface = opts.iface ?? (isBridge ? net.bridge.iface : net.hosts[target]!.iface);
  const tmp = opts.file ? undefined : await mkdtemp(join(tmpdir(), "tubular-pcap-"));
  const file = opts.file ?? join(tmp!, "capture.pcap");
  const filter = opts.filter ?? (opts.ports ? portFilter(opts.ports) : undefined);
  // -Z root: Debian's tcpdump drops to user "tcpdump" otherwise, which may not write the file.
  // --immediate-mode: each packet is handed over as it arrives, so none is left in the kernel's ring at stop().
  // -U: each packet is written to the file as it is captured.
  const args = ["-i", iface, "-w", file, "-U", "--immediate-mode", "-Z", "root", "-s", "0", "-n", ...(filter ? [filter] : [])];
  const child = net.execIn(ns, tcpdump, args, { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });

  const readyTimeoutMs = opts.readyTimeoutMs ?? 5000;
  await new Promise<void>((resolve, reject) => {
    let stderr = "";
    const onData = (text: string) => {
      stderr += text;
      if (/listening on/.test(stderr)) done();
    };
    const onExit = () => done(new Error(`tcpdump exited before listening: ${stderr.trim()}`));
    const timer = setTimeout(() => done(new Error(`tcpdump was not listening after ${readyTimeoutMs} ms: ${stderr.trim()}`)), readyTimeoutMs);
    function done(err?: Error) {
      clearTimeout(timer);
      child.stderr!.off("data", onData);
      child.off("exit", onExit);
      if (err) {
        child.kill("SIGKILL");
        reject(err);
      } else resolve();
    }
    child.stderr!.on("data", onData);
    child.once("exit", onExit);
  });

  let stopping: Promise<Buffer> | undefined;
  return {
    file,
    process: child,
    stop(settleMs = 100) {
      stopping ??= (async () => {
        await new Promise((r) => setTimeout(r, settleMs));
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
        try {
          return await readFile(file);
        } finally {
          if (tmp) await rm(tmp, { recursive: true, force: true });
        }
      })();
      return stopping;
    },
  };
}

// ---------------------------------------------------------------------------
// reading pcap files

export interface PcapPacket {
  /** Seconds since the epoch, with microseconds (or nanoseconds) as the fraction. */
  time: number;
  /** Bytes captured (the frame as seen on the link). */
  data: Buffer;
  /** Length of the packet on the wire. */
  origLen: number;
}

export interface Pcap {
  linkType: number;
  packets: PcapPacket[];
}

/** Parses a classic pcap file (either byte order, micro- or nanosecond timestamps); a truncated last record is ignored. */
export function parsePcap(buf: Buffer): Pcap {
  if (buf.length < 24) throw new Error(`not a pcap file: ${buf.length} bytes`);
  const magicLE = buf.readUInt32LE(0);
  let le: boolean;
  let nano: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) {
    le = true;
    nano = magicLE === 0xa1b23c4d;
  } else {
    const magicBE = buf.readUInt32BE(0);
    if (magicBE !== 0xa1b2c3d4 && magicBE !== 0xa1b23c4d) throw new Error(`not a pcap file: magic 0x${magicLE.toString(16)}`);
    le = false;
    nano = magicBE === 0xa1b23c4d;
  }
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = u32(20) & 0x0fffffff;
  const packets: PcapPacket[] = [];
  let o = 24;
  while (o + 16 <= buf.length) {
    const sec = u32(o);
    const frac = u32(o + 4);
    const inclLen = u32(o + 8);
    const origLen = u32(o + 12);
    if (o + 16 + inclLen > buf.length) break;
    packets.push({ time: sec + frac / (nano ? 1e9 : 1e6), data: buf.subarray(o + 16, o + 16 + inclLen), origLen });
    o += 16 + inclLen;
  }
  return { linkType, packets };
}

/** Number of packets in a pcap file. */
export function countPackets(pcap: Buffer): number {
  return parsePcap(pcap).packets.length;
}

export interface TcpSegment {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  flags: number;
  payload: Buffer;
}

/** Offset of the network-layer header and its ethertype, per link type (Ethernet, Linux cooked v1/v2, raw IP). */
function networkLayer(linkType: number, data: Buffer): { offset: number; etherType: number } | undefined {
  switch (linkType) {
    case 1: {
      // Ethernet, maybe with 802.1Q tags
      let off = 12;
      let type = data.length >= 14 ? data.readUInt16BE(12) : -1;
      while ((type === 0x8100 || type === 0x88a8) && data.length >= off + 6) {
        off += 4;
        type = data.readUInt16BE(off);
      }
      return type < 0 ? undefined : { offset: off + 2, etherType: type };
    }
    case 113: // LINUX_SLL
      return data.length >= 16 ? { offset: 16, etherType: data.readUInt16BE(14) } : undefined;
    case 276: // LINUX_SLL2
      return data.length >= 20 ? { offset: 20, etherType: data.readUInt16BE(0) } : undefined;
    case 12:
    case 101: // raw IP
      return data.length >= 1 ? { offset: 0, etherType: data[0]! >> 4 === 6 ? 0x86dd : 0x0800 } : undefined;
    default:
      return undefined;
  }
}

function ipv6Text(b: Buffer): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  return parts.join(":");
}

/** The TCP segments of a pcap file (IPv4 and IPv6 without extension headers). */
export function tcpSegments(pcap: Buffer): TcpSegment[] {
  const { linkType, packets } = parsePcap(pcap);
  const out: TcpSegment[] = [];
  for (const { data } of packets) {
    const l3 = networkLayer(linkType, data);
    if (!l3) continue;
    let o = l3.offset;
    let src: string;
    let dst: string;
    let end: number;
    if (l3.etherType === 0x0800) {
      if (data.length < o + 20) continue;
      const ihl = (data[o]! & 0x0f) * 4;
      if (data[o + 9] !== 6) continue;
      // fragments other than the first carry no TCP header; skip them
      if ((data.readUInt16BE(o + 6) & 0x1fff) !== 0) continue;
      src = [...data.subarray(o + 12, o + 16)].join(".");
      dst = [...data.subarray(o + 16, o + 20)].join(".");
      end = Math.min(data.length, o + data.readUInt16BE(o + 2));
      o += ihl;
    } else if (l3.etherType === 0x86dd) {
      if (data.length < o + 40 || data[o + 6] !== 6) continue;
      src = ipv6Text(data.subarray(o + 8, o + 24));
      dst = ipv6Text(data.subarray(o + 24, o + 40));
      end = Math.min(data.length, o + 40 + data.readUInt16BE(o + 4));
      o += 40;
    } else continue;
    if (end < o + 20) continue;
    const dataOffset = (data[o + 12]! >> 4) * 4;
    out.push({
      src,
      dst,
      srcPort: data.readUInt16BE(o),
      dstPort: data.readUInt16BE(o + 2),
      seq: data.readUInt32BE(o + 4),
      flags: data[o + 13]!,
      payload: data.subarray(Math.min(o + dataOffset, end), end),
    });
  }
  return out;
}

/**
 * The payload of each TCP direction ("src:port>dst:port"), reassembled by
 * sequence number (retransmissions and overlaps counted once; a gap left by a
 * packet missing from the capture is closed up).
 */
export function tcpStreams(pcap: Buffer): Map<string, Buffer> {
  const flows = new Map<string, { isn?: number; segs: TcpSegment[] }>();
  for (const s of tcpSegments(pcap)) {
    const key = `${s.src}:${s.srcPort}>${s.dst}:${s.dstPort}`;
    let f = flows.get(key);
    if (!f) flows.set(key, (f = { segs: [] }));
    if (s.flags & 0x02) f.isn ??= s.seq; // SYN
    if (s.payload.length > 0) f.segs.push(s);
  }
  const out = new Map<string, Buffer>();
  for (const [key, f] of flows) {
    if (f.segs.length === 0) continue;
    const base = f.isn ?? f.segs[0]!.seq;
    // Sequence numbers relative to the start, modulo 2^32 (signed, for segments before a first one seen out of order).
    const rel = f.segs.map((s) => ({ at: (s.seq - base) | 0, payload: s.payload })).sort((a, b) => a.at - b.at);
    const parts: Buffer[] = [];
    let next = rel[0]!.at;
    for (const { at, payload } of rel) {
      const end = at + payload.length;
      if (end <= next) continue;
      parts.push(payload.subarray(Math.max(0, next - at)));
      next = end;
    }
    out.set(key, Buffer.concat(parts));
  }
  return out;
}

/**
 * Whether `marker` appears in the capture: anywhere in the pcap file's bytes,
 * or in a reassembled TCP stream (which also finds a marker split across
 * segments).
 */
export function containsBytes(pcap: Buffer, marker: string | Buffer): boolean {
  const needle = typeof marker === "string" ? Buffer.from(marker, "utf8") : marker;
  if (needle.length === 0) throw new Error("containsBytes: empty marker");
  if (pcap.indexOf(needle) >= 0) return true;
  for (const stream of tcpStreams(pcap).values()) if (stream.indexOf(needle) >= 0) return true;
  return false;
}
