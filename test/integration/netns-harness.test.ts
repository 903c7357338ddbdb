/**
 * The multi-host test harness itself: namespaces joined on one segment reach
 * each other, a cut link cuts, captures see plaintext (so "never in clear"
 * assertions elsewhere cannot pass vacuously), and nothing is left behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containsBytes, countPackets, startCapture, tcpdumpAvailable, tcpSegments, tcpStreams } from "../helpers/capture.ts";
import { until } from "../helpers/until.ts";
import { createNetwork, listNamespaces, namespacePids, netnsAvailable, processAlive, sweepStale, type Network } from "../helpers/netns.ts";

const avail = await netnsAvailable();
const tcpdump = tcpdumpAvailable();
const NODE = process.execPath;
const PORT = 17_001;

/** A TCP echo server; prints "listening" once bound. */
const ECHO_SERVER = `
const net = require("node:net");
net.createServer((c) => { c.on("error", () => {}); c.pipe(c); })
  .listen(Number(process.argv[1]), "0.0.0.0", () => console.log("listening"));
`;

/**
 * Connects to argv[1]:argv[2], writes argv[3] (in two pieces argv[4] ms
 * apart, when argv[4] is given), prints what comes back once it is all there,
 * exits 0; exits 3 on error or after 1 s.
 */
const ECHO_CLIENT = `
const net = require("node:net");
const [host, port, msg, gap] = process.argv.slice(1);
const timer = setTimeout(() => { console.error("timeout"); process.exit(3); }, 1000);
const s = net.connect({ host, port: Number(port), noDelay: true }, () => {
  if (gap) {
    const half = Math.floor(msg.length / 2);
    s.write(msg.slice(0, half));
    setTimeout(() => s.write(msg.slice(half)), Number(gap));
  } else s.write(msg);
});
let got = "";
s.setEncoding("utf8");
s.on("data", (d) => { got += d; if (got.length >= msg.length) { console.log(got); clearTimeout(timer); s.end(); } });
s.on("error", (e) => { console.error(e.code || e.message); process.exit(3); });
`;

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms: ${text}`)), timeoutMs);
    child.stdout!.on("data", (d: string) => {
      text += d;
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before ${pattern}: ${text}`));
    });
  });
}

/** `ip -o link` of the test process's own namespace. */
function rootLinks(): Promise<string> {
  return new Promise<string>((resolve) => {
    const c = spawn("ip", ["-o", "link"], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    c.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    c.on("close", () => resolve(out));
  });
}

const title = (name: string, skip: { ok: boolean; reason?: string }) => (skip.ok ? name : `${name} (skipped: ${skip.reason})`);

describe.skipIf(!avail.ok)(title("netns harness", avail), () => {
  let net: Network;

  beforeAll(async () => {
    net = await createNetwork(["driver", "h1", "h2"]);
    const server = net.exec("h2", NODE, ["-e", ECHO_SERVER, String(PORT)]);
    await waitForLine(server, /listening/);
  });

  afterAll(async () => {
    await net?.destroy();
  });

  it("gives each host its own namespace and an address on one subnet, loopback up", async () => {
    const names = await listNamespaces();
    const ips = new Set<string>();
    for (const h of Object.values(net.hosts)) {
      expect(names).toContain(h.ns);
      expect(h.ns!.startsWith(net.id)).toBe(true);
      expect(`${h.ip.split(".").slice(0, 3).join(".")}.0/24`).toBe(net.subnet);
      ips.add(h.ip);
      const r = await net.run(h.name, "ip", ["-4", "-o", "addr", "show"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`inet ${h.ip}/24`);
      expect(r.stdout).toMatch(/\blo\b.*inet 127\.0\.0\.1/);
    }
    expect(ips.size).toBe(3);
    expect(names).toContain(net.bridge.ns);
  });

  it("hosts reach each other over TCP", async () => {
    for (const from of ["h1", "driver"]) {
      const r = await net.run(from, NODE, ["-e", ECHO_CLIENT, net.hosts.h2!.ip, String(PORT), `hello from ${from}`]);
      expect(r.stderr).toBe("");
      expect(r.stdout.trim()).toBe(`hello from ${from}`);
      expect(r.code).toBe(0);
    }
  });

  it("cutLink makes connections to the host fail; restoreLink brings them back", async () => {
    await net.cutLink("h2");
    try {
      // To the cut host, and from it: nothing gets through (the client gives up after 1 s).
      const [to, from] = await Promise.all([
        net.run("h1", NODE, ["-e", ECHO_CLIENT, net.hosts.h2!.ip, String(PORT), "lost"]),
        net.run("h2", NODE, ["-e", ECHO_CLIENT, net.hosts.h1!.ip, "9", "x"]),
      ]);
      expect(to.code).toBe(3);
      expect(to.stderr).toContain("timeout");
      expect(from.code).toBe(3);
    } finally {
      await net.restoreLink("h2");
    }
    const r = await net.run("h1", NODE, ["-e", ECHO_CLIENT, net.hosts.h2!.ip, String(PORT), "back again"]);
    expect(r.stdout.trim()).toBe("back again");
  });

  it("run() reports a timeout instead of hanging", async () => {
    const r = await net.run("h1", "sleep", ["10"], { timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe("SIGKILL");
  });

  describe.skipIf(!tcpdump.ok)(title("capture", tcpdump), () => {
    it("finds a plaintext marker sent between two namespaces, and only that", async () => {
      const marker = `TUBULAR-PLAINTEXT-${randomBytes(8).toString("hex")}`;
      const cap = await startCapture(net, "h1", { ports: [PORT] });
      const r = await net.run("h1", NODE, ["-e", ECHO_CLIENT, net.hosts.h2!.ip, String(PORT), marker]);
      expect(r.code).toBe(0);
      const pcap = await cap.stop();
      // SYN, SYN-ACK, ACK, data both ways, FINs: packets were captured at all.
      expect(countPackets(pcap)).toBeGreaterThanOrEqual(5);
      const segs = tcpSegments(pcap);
      expect(segs.every((s) => s.srcPort === PORT || s.dstPort === PORT)).toBe(true);
      expect(segs.some((s) => s.src === net.hosts.h1!.ip && s.dst === net.hosts.h2!.ip)).toBe(true);
      expect(containsBytes(pcap, marker)).toBe(true);
      expect(containsBytes(pcap, `TUBULAR-ABSENT-${randomBytes(8).toString("hex")}`)).toBe(false);
    });

    it("finds a marker split across TCP segments (stream reassembly)", async () => {
      const marker = `TUBULAR-SPLIT-${randomBytes(8).toString("hex")}`;
      const cap = await startCapture(net, "h1", { ports: [PORT] });
      const r = await net.run("h1", NODE, ["-e", ECHO_CLIENT, net.hosts.h2!.ip, String(PORT), marker, "100"]);
      expect(r.code).toBe(0);
      const pcap = await cap.stop();
      // Not in any one packet ...
      expect(pcap.indexOf(Buffer.from(marker))).toBe(-1);
      // ... but in the stream, both ways.
      const streams = [...tcpStreams(pcap).values()].filter((s) => s.includes(marker));
      expect(streams.length).toBe(2);
      expect(containsBytes(pcap, marker)).toBe(true);
    });

    it("captures on the bridge see traffic between any two hosts", async () => {
      const marker = `TUBULAR-BRIDGE-${randomBytes(8).toString("hex")}`;
      const cap = await startCapture(net, "bridge", { filter: `tcp port ${PORT}` });
      const r = await net.run("driver", NODE, ["-e", ECHO_CLIENT, net.hosts.h2!.ip, String(PORT), marker]);
      expect(r.code).toBe(0);
      const pcap = await cap.stop();
      expect(containsBytes(pcap, marker)).toBe(true);
      expect(tcpSegments(pcap).some((s) => s.src === net.hosts.driver!.ip)).toBe(true);
    });
  });
});

describe.skipIf(!avail.ok)(title("netns harness with the test process on the segment", avail), () => {
  it("local: the test process listens on the segment; hosts reach it; cutLink and destroy cover its veth", async () => {
    const net = await createNetwork(["driver", "h1"], { local: "driver" });
    const server = createServer((c) => {
      c.on("error", () => undefined);
      c.pipe(c);
    });
    try {
      const d = net.hosts.driver!;
      expect(d.ns).toBeNull();
      await new Promise<void>((resolve) => server.listen(PORT, d.ip, resolve));
      const r = await net.run("h1", NODE, ["-e", ECHO_CLIENT, d.ip, String(PORT), "to the test process"]);
      expect(r.stdout.trim()).toBe("to the test process");
      // exec on the local host runs here, and reaches the others
      const back = await net.run("driver", NODE, ["-e", "console.log(process.pid)"]);
      expect(back.code).toBe(0);

      await net.cutLink("driver");
      const cut = await net.run("h1", NODE, ["-e", ECHO_CLIENT, d.ip, String(PORT), "lost"]);
      expect(cut.code).toBe(3);
      await net.restoreLink("driver");

      // a second live network never gets the same subnet
      const other = await createNetwork(["z"], { local: "z" });
      try {
        expect(other.subnet).not.toBe(net.subnet);
        await expect(createNetwork(["y"], { subnet: Number(net.subnet.split(".")[2]) })).rejects.toThrow(/in use/);
      } finally {
        await other.destroy();
      }
    } finally {
      server.close();
      await net.destroy();
    }
    expect(await rootLinks()).not.toContain(net.hosts.driver!.iface);
  });
});

describe.skipIf(!avail.ok)(title("netns harness cleanup", avail), () => {
  it("destroy() ends every process (children too, and those ignoring SIGTERM) and deletes namespaces, veths and bridge", async () => {
    const net = await createNetwork(["a", "b"], { graceMs: 300 });
    const stubborn = net.exec("a", "sh", ["-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"]);
    stubborn.stdout!.setEncoding("utf8");
    await waitForLine(stubborn, /ready/);
    // A grandchild in a session of its own: only the sweep of the namespace's pids reaches it.
    const parent = await net.run("b", "sh", ["-c", "setsid sleep 300 >/dev/null 2>&1 & echo $!"]);
    const orphan = Number(parent.stdout.trim());
    expect(processAlive(orphan)).toBe(true);
    expect(await namespacePids(net.hosts.b!.ns!)).toContain(orphan);
    const pids = [...net.pids(), orphan];
    expect(pids.length).toBe(2);

    await net.destroy();

    for (const pid of pids) expect(processAlive(pid)).toBe(false);
    const names = await listNamespaces();
    expect(names.filter((n) => n.startsWith(net.id))).toEqual([]);
    const links = await rootLinks();
    expect(links).not.toMatch(/\b(br0|p1|p2)[@:]/);
    expect(links).not.toContain(net.id);
    await net.destroy(); // idempotent
    expect(() => net.exec("a", "true")).toThrow(/destroyed/);
  });

  it("a test process that exits without destroy() leaves nothing behind; one killed with SIGKILL is swept", async () => {
    const helper = fileURLToPath(new URL("../helpers/netns.ts", import.meta.url));
    // The child builds a network, starts a process in it, prints ids, then exits (or dies) without cleaning up.
    const script = (end: string) => `
      const { createNetwork } = await import(${JSON.stringify(helper)});
      const net = await createNetwork(["x"]);
      const c = net.exec("x", "sleep", ["300"]);
      await new Promise((r) => c.once("spawn", r));
      console.log(JSON.stringify({ id: net.id, pid: c.pid }));
      ${end}
    `;
    const runChild = (end: string) =>
      new Promise<{ id: string; pid: number }>((resolve, reject) => {
        const c = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script(end)], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        c.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
        c.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
        c.on("close", () => {
          try {
            resolve(JSON.parse(out.trim().split("\n").pop()!));
          } catch {
            reject(new Error(`child failed: ${err}`));
          }
        });
      });

    const exited = await runChild("process.exit(0);");
    expect(processAlive(exited.pid)).toBe(false);
    expect((await listNamespaces()).filter((n) => n.startsWith(exited.id))).toEqual([]);

    const killed = await runChild("process.kill(process.pid, 'SIGKILL');");
    expect((await listNamespaces()).some((n) => n.startsWith(killed.id))).toBe(true);
    const swept = await sweepStale();
    expect(swept.some((n) => n.startsWith(killed.id))).toBe(true);
    expect((await listNamespaces()).filter((n) => n.startsWith(killed.id))).toEqual([]);
    // the sweep SIGKILLs what ran inside; the kernel reaps it shortly after
    await until(() => !processAlive(killed.pid), 2000, "the swept process to be reaped");
  });
});

if (!avail.ok) {
  describe("netns harness", () => {
    it.skip(`skipped: ${avail.reason}`, () => undefined);
  });
}
