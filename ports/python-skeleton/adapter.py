#!/usr/bin/env python3
"""A port skeleton in Python, written from docs/PORTING.md alone (its walkthrough, "From an empty directory to
the structural level"): the operations of §9 over a dict (the exact level), and the bucket structure of §§1-4
beside it (the structural level), behind the conform protocol of §10.

    cow-state-table conform --exec "python3 ports/python-skeleton/adapter.py"
    cow-state-table trace replay --exec "python3 ports/python-skeleton/adapter.py" tests/traces/shrink.jsonl

`--level exact` declares the exact level only (the structure is then not reported). Copy-on-write, versions of
entries and reclamation are not simulated: a dict copied per snapshot stands in for them (§5), which is enough
for every result and the exact state, and the informative copy counters are not reported.
"""
import json
import sys

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1


# §2: the deterministic hasher of traces.
def _rotl64(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _add(h, word):
    return ((_rotl64(h, 5) ^ word) * 0x517CC1B727220A95) & M64


def composite_hash(key, ns):
    x = (_add(_add(0, key), ns) * 0x9E3779B97F4A7C15) & M64
    return (x >> 32) ^ (x & M32)


# §7: key groups (Flink's KeyGroupRangeAssignment over Java Long.hashCode).
def _rotl32(x, r):
    return ((x << r) | (x >> (32 - r))) & M32


def _fmix32(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    return h ^ (h >> 16)


def key_group(key, max_parallelism):
    code = (key ^ (key >> 32)) & M32  # Long.hashCode
    k = _rotl32((code * 0xCC9E2D51) & M32, 15)
    h = _rotl32((k * 0x1B873593) & M32, 13)
    h = _fmix32(((h * 5 + 0xE6546B64) & M32) ^ 4)
    signed = h - (1 << 32) if h >= 1 << 31 else h
    return (abs(signed) if signed != -(1 << 31) else 0) % max_parallelism


class Structure:
    """§1 and §4: bucket chains (head first), growth, shrink, the incremental rehash."""

    def __init__(self, capacity):
        c = 4
        while c < min(max(capacity, 4), 1 << 30):
            c *= 2
        self.old, self.new, self.rh = [[] for _ in range(c)], None, 0
        self.threshold, self.min_capacity, self.len = c // 2 + c // 4, c, 0

    def capacity(self):
        return len(self.new if self.new is not None else self.old)

    def _start(self, c):
        self.new, self.rh, self.threshold = [[] for _ in range(c)], 0, c // 2 + c // 4

    def step(self):
        """Up to 4 entries one at a time from the head of old bucket rh; at most 64 empty buckets scanned; the
        rehash ends when rh reaches the old capacity (and a growth starts at once if the length is over the new
        threshold then)."""
        if self.new is None:
            return
        moved = scanned = 0
        while moved < 4 and scanned < 64 and self.rh < len(self.old):
            if not self.old[self.rh]:
                self.rh += 1
                scanned += 1
                continue
            h = self.old[self.rh].pop(0)
            self.new[h & (len(self.new) - 1)].insert(0, h)
            moved += 1
        if self.rh == len(self.old):
            self.old, self.new, self.rh = self.new, None, 0
            if self.len > self.threshold and len(self.old) < 1 << 30:
                self._start(2 * len(self.old))

    def insert(self, h):
        """A new entry: the growth check on the length before the insert, then a push at the head of its chain
        (into the new sub-table if its old bucket is <= rh)."""
        if self.new is None and self.len > self.threshold and len(self.old) < 1 << 30:
            self._start(2 * len(self.old))
        old_bucket = h & (len(self.old) - 1)
        if self.new is not None and old_bucket <= self.rh:
            self.new[h & (len(self.new) - 1)].insert(0, h)
        else:
            self.old[old_bucket].insert(0, h)
        self.len += 1

    def remove(self, h):
        """A successful removal, then the shrink check."""
        for table in (self.old, self.new) if self.new is not None else (self.old,):
            chain = table[h & (len(table) - 1)]
            if h in chain:
                chain.remove(h)  # any one entry of that hash: only the counts per bucket are observable
                break
        self.len -= 1
        c = len(self.old)
        if self.new is None and c > self.min_capacity and self.len < c // 8:
            self._start(c // 2)


class Port:
    def __init__(self, capacity):
        self.entries = {}  # (key, ns) -> state
        self.slots = [None] * 4  # (version, frozen entries)
        self.version = 0
        self.structure = Structure(capacity)

    def _snapshot(self, slot):
        snap = self.slots[slot]
        return None if snap is None else snap[1]

    def apply(self, req):
        op, e, s = req["op"], self.entries, self.structure
        kn = (req.get("key"), req.get("ns"))
        v = req.get("value")
        if op in ("put", "put_and_get_old", "transform", "get_mut", "remove", "remove_and_get_old"):
            s.step()  # §4: every write does one rehash step first, even on an absent key
            if op in ("put", "put_and_get_old", "transform") and kn not in e:
                s.insert(composite_hash(*kn))
            if op in ("remove", "remove_and_get_old") and kn in e:
                s.remove(composite_hash(*kn))
        if op == "put":
            e[kn] = v
            return None
        if op == "put_and_get_old":
            old, e[kn] = e.get(kn), v
            return old
        if op == "get":
            return e.get(kn)
        if op == "contains":
            return kn in e
        if op == "get_mut":
            if kn not in e:
                return None
            e[kn] = (e[kn] * 31 + v + 1) & M64
            return e[kn]
        if op == "remove":
            return e.pop(kn, None) is not None
        if op == "remove_and_get_old":
            return e.pop(kn, None)
        if op == "transform":
            old = e.get(kn)
            e[kn] = (v << 8) & M64 if old is None else (old + v + 1) & M64
            return old
        if op == "len":
            return len(e)
        if op == "size_of_namespace":
            return sum(1 for (_, n) in e if n == req["ns"])
        if op == "iterate":
            return sorted([k, n, st] for (k, n), st in e.items())
        if op == "snapshot":
            self.version += 1
            self.slots[req["slot"]] = (self.version, dict(e))
            return self.version
        if op == "release":
            held = self.slots[req["slot"]] is not None
            self.slots[req["slot"]] = None
            return held
        snap = self._snapshot(req["slot"])
        if snap is None:
            return None
        if op == "read_snapshot":
            return sorted([k, n, st] for (k, n), st in snap.items())
        if op == "partition":
            counts = {}
            for (k, _) in snap:
                g = key_group(k, req["max_parallelism"])
                counts[g] = counts.get(g, 0) + 1
            return sorted([g, c] for g, c in counts.items())
        if op == "write_key_group":
            rows = sorted((n, k, st) for (k, n), st in snap.items()
                          if key_group(k, req["max_parallelism"]) == req["key_group"])
            body = len(rows).to_bytes(4, "big")
            for n, k, st in rows:
                body += n.to_bytes(4, "big") + k.to_bytes(8, "big") + st.to_bytes(8, "big")
            return body.hex()
        raise KeyError(op)

    def state(self, level):
        live = sum(1 for slot in self.slots if slot is not None)
        state = {"len": len(self.entries), "version": self.version, "live_snapshots": live}
        if level == "structural":
            state.update(capacity=self.structure.capacity(), rehashing=self.structure.new is not None)
        return state


def main():
    level = "exact" if "--level" in sys.argv and "exact" in sys.argv else "structural"
    port = Port(4)
    for line in sys.stdin:
        req = json.loads(line)
        reply = {"id": req["id"]}
        try:
            if req["op"] == "hello":
                reply["result"] = {"level": level, "hash": "deterministic"}
            elif req["op"] == "reset":
                port = Port(req.get("capacity", 4))
                reply["result"] = None
            elif req["op"] == "state":
                reply["result"] = port.state(level)
            else:
                reply["result"] = port.apply(req)
        except KeyError:
            reply = {"id": req["id"], "unsupported": True}  # an operation this port does not know: did nothing
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
