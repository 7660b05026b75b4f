// The blotter's data: a store of state documents kept equal to the query API, and the live feed.
//
// Protocol (docs/design/blotter-live.md): the websocket says hello with the last committed seq;
// the page loads snapshots over the REST query API, then applies event batches (each event
// carries the object's full new state and its version). The global seq has no gaps, so a batch
// that does not start at last+1 means something was lost: the page fetches what it missed from
// /api/queries/events?afterSeq=<last> (or reloads the snapshot when far behind). Every document
// is replaced only by a newer version, so overlaps between snapshot, feed and resync are harmless.

export const KINDS = {
  orders: { topic: "order-events", id: "orderId" },
  executions: { topic: "execution-events", id: "executionId" },
  quoteRequests: { topic: "quote-request-events", id: "quoteRequestId" },
  quotes: { topic: "quote-events", id: "quoteId" },
};
const KIND_OF_TOPIC = Object.fromEntries(Object.entries(KINDS).map(([k, v]) => [v.topic, k]));

export class Store {
  constructor() {
    this.docs = {};
    this.changed = {};
    for (const kind of Object.keys(KINDS)) {
      this.docs[kind] = new Map();
      this.changed[kind] = new Map(); // id -> previous doc (undefined when new)
    }
    this.loaded = new Set();
    this.onOther = null; // events of the other topics (controls.js: control-events, venue-events)
    this.taps = []; // called with every event of any topic (risk.js: positions, venues, alerts)
  }

  put(kind, doc) {
    const id = doc[KINDS[kind].id];
    const map = this.docs[kind];
    const old = map.get(id);
    if (old && Number(old.version) >= Number(doc.version)) return false;
    map.set(id, doc);
    if (!this.changed[kind].has(id)) this.changed[kind].set(id, old);
    return true;
  }

  applyEvent(event) {
    for (const tap of this.taps) tap(event);
    const kind = KIND_OF_TOPIC[event.topic];
    if (!kind && this.onOther) this.onOther(event);
    if (!kind || !event.state) return false;
    return this.put(kind, event.state);
  }

  /** The changes since the last call: {kind: Map(id -> previous doc)}. */
  takeChanges() {
    const out = this.changed;
    this.changed = {};
    for (const kind of Object.keys(KINDS)) this.changed[kind] = new Map();
    return out;
  }
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** Every page of a paginated list endpoint (limit/offset), in order. */
export async function loadAll(url, pageSize = 1000, onPage = null) {
  const out = [];
  let next = `${url}${url.includes("?") ? "&" : "?"}limit=${pageSize}&offset=0`;
  while (next) {
    const page = await getJSON(next);
    out.push(...page.results);
    if (onPage) onPage(out.length, page.count);
    next = page.next ? new URL(page.next, location.href).pathname + new URL(page.next, location.href).search : null;
  }
  return out;
}

/**
 * The working-set snapshot (GET /blotter/api/snapshot: NDJSON, gzip, read at one seq), streamed:
 * each line is parsed as it arrives. `prefetched` (or null): a promise of the response of a request
 * started before the websocket's hello; a snapshot at any seq is right (the feed resumes after it).
 * Calls onHeader(header) when the first line arrives (the server builds the whole body before it
 * sends a byte: the snapshot's seq is committed by then), onDocs(kind, docs) per chunk; returns the header
 * ({seq, tradingDayStart, historyFrom, ...}) with the end line's `counts`. A stream cut before its
 * end line is an error (the page retries), never a silently partial snapshot.
 */
export async function readSnapshot(url, prefetched, onDocs, onHeader = null) {
  const get = () => fetch(url, { credentials: "same-origin", headers: { Accept: "application/x-ndjson" } });
  // a download started earlier (home.html) is used once; if it failed, fetch again
  let response = prefetched ? await prefetched : null;
  if (!response || !response.ok || response.bodyUsed) response = await get();
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let header = null;
  let end = null;
  let rest = "";
  const line = (text) => {
    if (!text) return;
    const record = JSON.parse(text);
    if (record.type === "snapshot") {
      header = record;
      if (onHeader) onHeader(record);
    }
    else if (record.type === "docs") onDocs(record.kind, record.docs);
    else if (record.type === "end") end = record;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += value;
    let at;
    while ((at = rest.indexOf("\n")) >= 0) {
      line(rest.slice(0, at));
      rest = rest.slice(at + 1);
    }
  }
  line(rest);
  if (!header || !end || end.seq !== header.seq) throw new Error("snapshot cut short");
  return { ...header, counts: end.counts };
}

/** One zlib stream (RFC 1950) -> its text: the server's compressed events frame. */
async function inflate(buffer) {
  const stream = new Blob([buffer]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Response(stream).text();
}

/**
 * The websocket feed with resync. Callbacks:
 *   onStatus(state, text)  state: "connecting" | "loading" | "live" | "resyncing" | "stale" | "reconnecting" | "refused"
 *   loadSnapshot()         async: (re)load the working set into the store; returns the seq it
 *                          is consistent with (the feed resumes right after it), or null when
 *                          it cannot tell (then the hello's seq is taken, as before)
 *   onApplied()            after events or a snapshot reached the store
 */
export class Feed {
  constructor({ wsPath, eventsUrl, store, loadSnapshot, onStatus, onApplied, maxResync = 20000 }) {
    Object.assign(this, { wsPath, eventsUrl, store, loadSnapshot, onStatus, onApplied, maxResync });
    this.lastSeq = null; // the seq everything in the store reflects
    this.buffer = []; // live events received while loading/resyncing
    this.busy = false;
    this.attempt = 0;
    this.pingTimer = null;
    this.lastMessageAt = 0;
    this.suspectSeq = null;
    this.stats = { events: 0, resyncs: 0, snapshots: 0, reconnects: 0, gaps: 0 };
  }

  start() {
    this.connect();
    this.pingTimer = setInterval(() => this.ping(), 3000);
  }

  status(state, text = "") {
    this.state = state;
    if (this.onStatus) this.onStatus(state, text);
  }

  connect() {
    this.status(this.attempt ? "reconnecting" : "connecting", "connecting…");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    // events frames compressed by the server once for every desk (blotter/fanout.py `Frame`),
    // inflated here; browsers without DecompressionStream get text frames
    const compress = typeof DecompressionStream === "function";
    const sep = this.wsPath.includes("?") ? "&" : "?";
    const ws = new WebSocket(`${proto}//${location.host}${this.wsPath}${compress ? `${sep}compress=deflate` : ""}`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let opened = false;
    // frames are handled one after another in arrival order, inflating included
    let inbox = Promise.resolve();
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (msg) => {
      this.lastMessageAt = performance.now();
      inbox = inbox.then(async () => {
        if (this.ws !== ws) return;
        let data;
        try {
          const text = typeof msg.data === "string" ? msg.data : await inflate(msg.data);
          data = JSON.parse(text);
        } catch {
          return;
        }
        if (data.type === "hello") this.onHello(data);
        else if (data.type === "events") this.onEvents(data.events);
        else if (data.type === "pong") this.onPong(data);
      });
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      // 4401/4403: not allowed, stay closed. Any other code reconnects, including 4408 (the
      // server closed a socket that fell too far behind): the new hello resyncs what was missed.
      if (ev.code === 4401 || ev.code === 4403) {
        this.status("refused", "not allowed: log in again");
        return;
      }
      this.attempt += 1;
      this.stats.reconnects += opened ? 1 : 0;
      const delay = Math.min(10000, 250 * 2 ** Math.min(this.attempt, 6)) * (0.75 + Math.random() * 0.5);
      this.status("reconnecting", `reconnecting in ${(delay / 1000).toFixed(1)} s`);
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.connect(), delay);
    };
  }

  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
  }

  ping() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this.send({ type: "ping" });
    if (this.state === "live" && performance.now() - this.lastMessageAt > 10000) this.status("stale", "no answer from the server");
  }

  onPong(data) {
    if (this.state === "stale") this.status("live");
    if (this.busy || this.lastSeq === null) return;
    // a quiet feed that stays behind the committed seq across two pongs lost its last batch
    if (data.seq > this.lastSeq) {
      if (this.suspectSeq === this.lastSeq) this.resync("behind the server");
      else this.suspectSeq = this.lastSeq;
    } else {
      this.suspectSeq = null;
    }
  }

  async onHello(hello) {
    this.attempt = 0;
    this.helloSeq = hello.seq;
    this.buffer = [];
    if (this.lastSeq === null || hello.seq - this.lastSeq > this.maxResync || hello.seq < this.lastSeq) {
      // first load, too far behind, or a different (reset) database: take a fresh snapshot
      await this.snapshot(hello.seq);
    } else {
      await this.resync("reconnected", hello.seq);
    }
  }

  async snapshot(seq) {
    this.busy = true;
    this.status("loading", "loading snapshot…");
    try {
      const at = await this.loadSnapshot();
      this.stats.snapshots += 1;
      // a snapshot at a known seq: exactly the events after it are applied (a shared snapshot
      // may be a little older than the hello: the events in between come from the event feed)
      this.lastSeq = at ?? Math.max(seq, this.lastSeq ?? 0);
      this.snapshotSeq = this.lastSeq;
    } catch (err) {
      this.busy = false;
      this.status("stale", `snapshot failed: ${err.message}`);
      this.retryLater(() => this.snapshot(seq));
      return;
    }
    this.busy = false;
    const next = this.buffer.reduce((lo, ev) => Math.min(lo, ev.seq), Infinity);
    if (seq > this.lastSeq && next > this.lastSeq + 1) {
      await this.resync(`snapshot at ${this.lastSeq}, feed at ${seq}`);
      return;
    }
    this.drain();
  }

  retryLater(fn) {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(fn, 2000);
  }

  onEvents(events) {
    if (!events || !events.length) return;
    if (this.busy || this.lastSeq === null) {
      this.buffer.push(...events);
      return;
    }
    this.buffer.push(...events);
    this.drain();
  }

  /** Apply buffered events in seq order while they are contiguous; resync on a gap. */
  drain() {
    if (this.busy) return;
    const events = this.buffer.sort((a, b) => a.seq - b.seq);
    this.buffer = [];
    let applied = 0;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i];
      if (ev.seq <= this.lastSeq) continue; // already in the snapshot or applied
      if (ev.seq !== this.lastSeq + 1) {
        this.stats.gaps += 1;
        this.buffer = events.slice(i);
        if (applied) this.onApplied();
        this.resync(`gap after seq ${this.lastSeq}`);
        return;
      }
      this.store.applyEvent(ev);
      this.lastSeq = ev.seq;
      this.stats.events += 1;
      applied += 1;
    }
    if (applied) this.onApplied();
    if (this.state !== "live") this.status("live");
  }

  /** Fetch the events after lastSeq from the event feed (up to `until`, or until it runs dry). */
  async resync(reason, until = null) {
    if (this.busy) return;
    this.busy = true;
    this.stats.resyncs += 1;
    this.status("resyncing", `resyncing (${reason})…`);
    try {
      let fetched = 0;
      for (;;) {
        const page = await getJSON(`${this.eventsUrl}?afterSeq=${this.lastSeq}&limit=1000`);
        for (const ev of page.results) {
          if (ev.seq !== this.lastSeq + 1) throw new Error(`event feed skipped from ${this.lastSeq} to ${ev.seq}`);
          this.store.applyEvent(ev);
          this.lastSeq = ev.seq;
        }
        fetched += page.results.length;
        if (fetched > this.maxResync) {
          this.busy = false;
          await this.snapshot(this.lastSeq);
          return;
        }
        if (!page.next || (until !== null && this.lastSeq >= until && !page.results.length)) break;
      }
      this.suspectSeq = null;
    } catch (err) {
      this.busy = false;
      this.status("stale", `resync failed: ${err.message}`);
      this.retryLater(() => this.resync("retry"));
      return;
    }
    this.busy = false;
    this.onApplied();
    this.drain();
  }
}
