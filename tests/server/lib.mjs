// Helpers of the server tests: start `veloxquant serve` on a free loopback port, talk raw HTTP,
// read /metrics and the server's memory. VQ_BIN (the veloxquant binary) and VQ_MODEL (a GGUF model)
// come from CTest (tests/server/server.cmake).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";

export const BIN = process.env.VQ_BIN;
export const MODEL = process.env.VQ_MODEL;
export const MODEL_ID = MODEL ? MODEL.split("/").pop().replace(/\.[^.]*$/, "") : "";
// How much slower the server binary is than a Release build (sanitizers: tests/server/server.cmake);
// waits for the server's own work scale with it, not the timeouts the server is configured with.
export const SLOW = Number(process.env.VQ_SLOW ?? 1);
if (!BIN || !MODEL) throw new Error("set VQ_BIN and VQ_MODEL (CTest does)");

// Starts the server with extra arguments; resolves once it prints "listening on".
export function startServer(args = [], { startTimeoutMs = 60000 * SLOW } = {}) {
  const proc = spawn(BIN, ["serve", "-m", MODEL, "--host", "127.0.0.1", "--port", "0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  const server = { proc, stderr: "", exitCode: null };
  proc.stderr.on("data", (d) => (server.stderr += d));
  const exited = new Promise((resolve) =>
    proc.on("exit", (code, signal) => {
      server.exitCode = code ?? signal;
      resolve(server.exitCode);
    }),
  );
  server.exited = exited;
  server.stop = async () => {
    if (server.exitCode === null) proc.kill("SIGTERM");
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start:\n" + server.stderr)), startTimeoutMs);
    exited.then((code) => reject(new Error(`server exited (${code}) before listening:\n${server.stderr}`)));
    proc.stdout.on("data", (d) => {
      stdout += d;
      const m = stdout.match(/listening on (http:\/\/127\.0\.0\.1:(\d+))/);
      if (m) {
        clearTimeout(timer);
        server.url = m[1];
        server.port = Number(m[2]);
        resolve(server);
      }
    });
  });
}

export async function postJson(server, path, body, headers = {}) {
  const r = await fetch(server.url + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, headers: r.headers, text, json };
}

export async function getJson(server, path) {
  const r = await fetch(server.url + path);
  return { status: r.status, json: await r.json() };
}

// /metrics as { "name{labels}": value }.
export async function metrics(server) {
  const text = await (await fetch(server.url + "/metrics")).text();
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return out;
}

// Resident memory of the server process in bytes: now (VmRSS) and the peak (VmHWM).
export function memory(server) {
  const status = readFileSync(`/proc/${server.proc.pid}/status`, "utf8");
  const kb = (key) => Number(status.match(new RegExp(key + ":\\s+(\\d+) kB"))[1]) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

// Waits until `check()` is true (polling), or fails after `ms`.
export async function eventually(check, ms, what) {
  const end = Date.now() + ms * SLOW;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A raw TCP connection: write bytes, collect what comes back, know when the server closed it.
export function rawConnection(server) {
  const socket = net.connect(server.port, "127.0.0.1");
  const conn = { socket, data: "", closed: false, error: null };
  socket.on("data", (d) => (conn.data += d.toString("latin1")));
  socket.on("error", (e) => (conn.error = e));
  conn.closedPromise = new Promise((resolve) =>
    socket.on("close", () => {
      conn.closed = true;
      resolve();
    }),
  );
  conn.ready = new Promise((resolve) => socket.on("connect", resolve));
  return conn;
}

// Status and JSON body of a raw HTTP/1.1 response (Content-Length or chunked).
export function parseResponse(raw) {
  const head = raw.slice(0, raw.indexOf("\r\n\r\n"));
  let body = raw.slice(head.length + 4);
  const status = Number(head.split(" ")[1]);
  if (/transfer-encoding: chunked/i.test(head)) {
    let out = "";
    for (;;) {
      const eol = body.indexOf("\r\n");
      const n = parseInt(body.slice(0, eol), 16);
      if (!n) break;
      out += body.slice(eol + 2, eol + 2 + n);
      body = body.slice(eol + 2 + n + 2);
    }
    body = out;
  }
  let json = null;
  try {
    json = JSON.parse(Buffer.from(body, "latin1").toString("utf8"));
  } catch {}
  return { status, head, body, json };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
