/*
 * cow_table.pml -- the copy-on-write and release protocol of cow-state-table (docs/DESIGN.md, I1-I13).
 *
 * One writer process (the owner of the StateTable, src/table/mod.rs) and two reader processes, one per
 * snapshot slot (Snapshot, src/snapshot/mod.rs), which iterate their snapshot and release it in any order.
 *
 * Abstraction (see proofs/README.md for the argument):
 *   - Memory is two small pools of slots: nodes (src/table/node.rs) and chunks of bucket heads
 *     (src/table/directory.rs). A slot is FREE, LIVE (owned by the live structure) or RETIRED (owned by the
 *     retire queue, src/snapshot/reclaim.rs). A chunk holds one bucket head (the code's chunk length
 *     min(capacity, 512) does not matter to the protocol: copy-on-write is per chunk either way).
 *   - Two keys with hashes 0 and 2. The table starts with 1 bucket and may grow once to 2 buckets by an
 *     incremental rehash (src/table/rehash.rs); both keys chain in bucket 0 of either table, so chain-prefix
 *     copies happen in both, and a migrated node may land on a non-empty new bucket (its next must change:
 *     copy or relink). New bucket 1 stays empty but is a live chunk like any other.
 *   - States are values 1..2 (0 = absent). put writes a chosen value, get_mut / transform flip it.
 *   - A write operation is: an Acquire load of the bounds word (begin_write, its own step so that releases can
 *     interleave and the writer's copy of R and O goes stale, I4), then the whole operation as one d_step.
 *     This is sound for the properties checked: the readers touch only what their snapshot reaches, and every
 *     write and free to such an object is caught by an assertion at the moment it happens (ghost footprints),
 *     whatever the interleaving granularity.
 *   - The Release/Acquire pairing of I8 is modelled by program order: a reader finishes its reads, then
 *     releases in the code's four steps (lock the registry mutex, remove its version from the live set,
 *     compute and publish the bounds, unlock), each its own transition; the writer's snapshot registers under
 *     the same mutex and renormalises (I12) when it finds the live set empty there. The
 *     MUTANT_RELAXED_RELEASE variant lets the release become visible before the reads (a Relaxed store does not
 *     order the earlier loads), which is exactly what mutant-relaxed-release permits.
 *
 * Properties (all assertions; checked exhaustively with pan -DSAFETY, plus invalid end states):
 *   P1 (I3) no write to a node / state / chunk that a snapshot still reading can reach   -> assert(!VIS_*)
 *   P2 (I7) no free of a node / chunk that a snapshot still reading can reach            -> assert(!VIS_*)
 *   P3 (I9) every reader sees exactly the contents captured when its snapshot was taken  -> Reader asserts
 *   P4 (I6, I7, I5) at the end, after every snapshot is released, the writer's reclaim frees every retired
 *      object and every allocated object is owned by the live structure                  -> Writer end asserts
 *   P5 (I1, I2, I4, I5, I10, I11) structural invariants after every write operation      -> check()
 *   P6 no deadlock: pan reports no invalid end state (readers wait at an end label).
 *
 * Mutants (compile with spin -DMUTANT_...): each mirrors the Rust `cfg(cow_mutant = "...")` of the same name;
 * MUTANT_PUBLISH_AFTER_UNLOCK exists only here (release publishes its bounds after unlocking the registry).
 */

#define NN 7          /* node slots */
#define NC 8          /* chunk slots */
#define NK 2          /* keys 0 and 1 */
#define HASH(k) ((k) << 1)  /* hash(0) = 0, hash(1) = 2: one bucket before and after the growth */
#define NIL 255
#define FREE 0
#define LIVE 1
#define RETIRED 2
#define NONE_O 255    /* O when no snapshot is live (u32::MAX in Bounds::NONE_LIVE) */

#ifndef MAXOPS
#define MAXOPS 6      /* writer operations per run */
#endif
#define VLIMIT 2      /* DEFAULT_VERSION_LIMIT: renormalise (I12) at V >= VLIMIT with no live snapshot */
#define VMAX 3        /* MAX_SNAPSHOT_VERSION: snapshot() fails with VersionsExhausted at V >= VMAX */

/* ---- memory: node slots (Node: key, state, next, version) and retire tags (RetireQueue) ---- */
byte nst[NN];    /* FREE / LIVE / RETIRED (I5: exactly one owner) */
byte nver[NN];   /* Node::version */
byte ntag[NN];   /* retire tag e = V at retirement (I6) */
byte nkey[NN];
byte nval[NN];   /* the state S */
byte nnext[NN];  /* Node::next */
/* chunk slots (ChunkRef.heads / ChunkRef.version; one head per chunk) */
byte cst[NC];
byte cver[NC];
byte ctag[NC];
byte chead[NC];

/* ---- the live table: StateTable.primary, StateTable.rehash = Some(Rehash { new, index }) ---- */
byte pcap = 1;       /* Directory.capacity of primary: 1, or 2 after a rehash */
byte pdir[2];        /* primary directory: chunk of bucket b */
bool rehashing;      /* StateTable.rehash.is_some() */
byte ndir[2];        /* Rehash.new: 2 buckets */
byte rh;             /* Rehash.index */

/* ---- versions (src/snapshot/versions.rs) ---- */
byte V;                        /* StateTable.version */
byte bR = 0;                   /* bounds word: R = max(L) (Bounds.highest) */
byte bO = NONE_O;              /* bounds word: O = min(L) (Bounds.oldest) */
bool L[2];                     /* Registry.live: slot s is live with version sver[s] */
byte sver[2];
bool taken[2];                 /* snapshot handed to reader s and not yet released */
bit mtx;                       /* Shared.registry: the registry mutex (1 = held) */

/* ---- snapshot views (View: dirs copied, rehash index) ---- */
byte scap[2];
byte sdir[4];                  /* sdir[2*s + b] */
bool srh[2];                   /* View.dirs.len() == 2 */
byte snew[4];                  /* snew[2*s + b] */

/* ---- ghost state ---- */
bool reading[2];               /* reader s may still read its snapshot */
byte fpn[2];                   /* footprint: node slots its snapshot reaches (bitmask) */
byte fpc[2];                   /* footprint: chunk slots its snapshot reaches (bitmask) */
byte sexp[4];                  /* contents captured at snapshot time: sexp[2*s + k] (0 = absent) */
byte amap[NK];                 /* the functional map defined by the operation sequence */

/* temporaries of the writer's d_steps (not part of the state vector) */
hidden byte cc, nc, cur, cp, lnk, fnd, fsub, fb, ai, it, uu, ww, xx, yy, hcnt, s2;
hidden byte lnode, sh;

/* I2/I3: Cow::is_shared (src/table/directory.rs). cR is the writer's (possibly stale) read of R. */
#ifdef MUTANT_VERSION_OFF_BY_ONE
#define SHARED(ver) ((ver) + 1 < cR)
#else
#define SHARED(ver) ((ver) < cR)
#endif

/* get_mut / transform: "can a snapshot see this state?" (mutant-skip-state-copy answers no) */
#ifdef MUTANT_SKIP_STATE_COPY
#define STATE_SHARED(ver) false
#else
#define STATE_SHARED(ver) SHARED(ver)
#endif

/* Reachability probes (vacuity check): proofs/check.sh compiles the model with -DPROBE=n and requires pan to
   report the assertion below as violated, i.e. that point n is reached:
     1 renormalise          2 finish_rehash          3 migration copies a shared node
     4 prefix copy          5 chunk copy             6 snapshot() fails with VersionsExhausted
     7 migration relinks a private node in place     8 reclaim frees a retired node while a snapshot is live */
#ifdef PROBE
#define REACH(n) assert(PROBE != (n))
#define REACH_IF(n, cond) assert(PROBE != (n) || !(cond))
#else
#define REACH(n) skip
#define REACH_IF(n, cond) skip
#endif

/* Ghost: can a snapshot that is still reading reach node / chunk slot i? */
#define VIS_N(i) ((reading[0] && ((fpn[0] >> (i)) & 1)) || (reading[1] && ((fpn[1] >> (i)) & 1)))
#define VIS_C(i) ((reading[0] && ((fpc[0] >> (i)) & 1)) || (reading[1] && ((fpc[1] >> (i)) & 1)))

/* ------------------------------------------------------------------------------------------------ */
/* allocation and freeing (Node::alloc / Node::copy / Node::free, alloc_chunk / free_chunk)        */

inline alloc_node(out) {
  out = NIL; ai = 0;
  do
  :: ai < NN && nst[ai] == FREE -> out = ai; break
  :: ai < NN && nst[ai] != FREE -> ai++
  :: ai >= NN -> break
  od;
  assert(out != NIL);      /* the pools are large enough for MAXOPS */
  nst[out] = LIVE;
  ai = 0
}

inline alloc_chunk(out) {
  out = NIL; ai = 0;
  do
  :: ai < NC && cst[ai] == FREE -> out = ai; break
  :: ai < NC && cst[ai] != FREE -> ai++
  :: ai >= NC -> break
  od;
  assert(out != NIL);
  cst[out] = LIVE; chead[out] = NIL; cver[out] = V;
  ai = 0
}

/* P2 (I7): never free what a reading snapshot reaches. Fields are zeroed to keep the state space small. */
inline free_node(i) {
  assert(!VIS_N(i));
  nst[i] = FREE; nver[i] = 0; ntag[i] = 0; nkey[i] = 0; nval[i] = 0; nnext[i] = NIL
}

inline free_chunk(i) {
  assert(!VIS_C(i));
  cst[i] = FREE; cver[i] = 0; ctag[i] = 0; chead[i] = NIL
}

/* RetireQueue::retire with tag e = V (I6). The FIFO is represented by a tag per slot: tags never decrease
   (I1), so freeing the queue's front while tag < O frees exactly the slots with tag < O. */
inline retire_node(i)  { nst[i] = RETIRED; ntag[i] = V }
inline retire_chunk(i) { cst[i] = RETIRED; ctag[i] = V }

/* RetireQueue::reclaim(oldest) (I7). */
#ifdef MUTANT_FREE_TOO_EARLY
#define REACHABLE(tag, o) ((tag) > (o))
#else
#define REACHABLE(tag, o) ((tag) >= (o))
#endif
inline reclaim(o) {
  it = 0;
  do
  :: it < NN -> if :: nst[it] == RETIRED && !REACHABLE(ntag[it], o) -> REACH_IF(8, o != NONE_O); free_node(it) :: else -> skip fi; it++
  :: else -> break
  od;
  it = 0;
  do
  :: it < NC -> if :: cst[it] == RETIRED && !REACHABLE(ctag[it], o) -> free_chunk(it) :: else -> skip fi; it++
  :: else -> break
  od;
  it = 0
}

/* Node::copy(node, state, V): a fresh private node (version V) with the same key, state and next. */
inline copy_node(i, out) {
  alloc_node(out);
  nkey[out] = nkey[i]; nval[out] = nval[i]; nnext[out] = nnext[i]; nver[out] = V
}

/* ------------------------------------------------------------------------------------------------ */
/* directories and chains (src/table/directory.rs, src/table/chain.rs)                             */

inline dir_get(sub, b, out) { if :: sub == 0 -> out = pdir[b] :: else -> out = ndir[b] fi }
inline dir_set(sub, b, val) { if :: sub == 0 -> pdir[b] = val :: else -> ndir[b] = val fi }

/* Directory::head_cell_for_write: copy the chunk if a live snapshot may see it (I3), retire the original
   (I6). Leaves the (now private) chunk in cc. */
inline head_cell_for_write(sub, b) {
  dir_get(sub, b, cc);
#ifndef MUTANT_CHUNK_IN_PLACE
  if
  :: SHARED(cver[cc]) ->
     alloc_chunk(nc);
     chead[nc] = chead[cc]; REACH(5);
     retire_chunk(cc);
     dir_set(sub, b, nc);
     cc = nc
  :: else -> skip
  fi
#endif
}

/* Writes the link cell (a bucket head, or the next of a node). P1 (I3): it must not be visible. */
inline write_link(val) {
  if
  :: lnode -> assert(!VIS_N(lnk)); nnext[lnk] = val
  :: else -> assert(!VIS_C(lnk)); chead[lnk] = val
  fi
}

/* chain::privatize_prefix (Flink handleChainedEntryCopyOnWrite): copies every shared node in front of
   target and leaves in (lnode, lnk) the private link cell that points to target. */
inline privatize_prefix(sub, b, target) {
  head_cell_for_write(sub, b);
  lnode = false; lnk = cc; cur = chead[cc]; hcnt = 0;
  do
  :: cur != target ->
     assert(cur != NIL && hcnt < NN); hcnt++;
#ifndef MUTANT_SKIP_PREFIX_COPY
     if
     :: SHARED(nver[cur]) ->
        copy_node(cur, cp);
        write_link(cp);
        retire_node(cur); REACH(4);
        cur = cp
     :: else -> skip
     fi;
#endif
     lnode = true; lnk = cur; cur = nnext[cur]
  :: else -> break
  od;
  hcnt = 0
}

/* StateTable::find (I10): old bucket h & (pcap-1); during a rehash the only old bucket is 0 = rh, so the
   key is in the old bucket or in new bucket h & 1 (in_old and in_new both hold). */
inline find(k) {
  fnd = NIL; fsub = 0; fb = HASH(k) & (pcap - 1);
  cur = chead[pdir[fb]];
  do
  :: cur == NIL -> break
  :: cur != NIL && nkey[cur] == k -> fnd = cur; break
  :: cur != NIL && nkey[cur] != k -> cur = nnext[cur]
  od;
  if
  :: fnd == NIL && rehashing ->
     fsub = 1; fb = HASH(k) & 1;
     cur = chead[ndir[fb]];
     do
     :: cur == NIL -> break
     :: cur != NIL && nkey[cur] == k -> fnd = cur; break
     :: cur != NIL && nkey[cur] != k -> cur = nnext[cur]
     od
  :: else -> skip
  fi
}

/* ------------------------------------------------------------------------------------------------ */
/* the operations (src/table/mod.rs)                                                              */

/* rehash::step with MIGRATE_PER_STEP = 1 (the code moves up to 4; moving one at a time also produces the
   half-migrated bucket of I10), then StateTable::finish_rehash. */
inline rehash_step() {
  if
  :: rehashing ->
     if
     :: chead[pdir[0]] == NIL ->
        /* old bucket rh is empty: rh += 1 == old capacity: finish_rehash -> Directory::retire_chunks */
        cc = pdir[0];
        if :: SHARED(cver[cc]) -> retire_chunk(cc) :: else -> free_chunk(cc) fi;
        pdir[0] = ndir[0]; pdir[1] = ndir[1]; pcap = 2;
        REACH(2); rehashing = false; rh = 0; ndir[0] = 0; ndir[1] = 0
     :: else ->
        xx = chead[pdir[0]];                   /* the head of old bucket rh */
        privatize_prefix(0, 0, xx);            /* copies the old chunk if shared; link = head cell */
        yy = nnext[xx];                         /* rest */
        write_link(yy);
        fb = HASH(nkey[xx]) & 1;
        head_cell_for_write(1, fb);           /* new bucket's chunk, copied if shared */
        ww = chead[cc];                         /* new_head */
        if
        :: yy == ww -> cp = xx                   /* next unchanged: moved without a copy */
#ifndef MUTANT_REHASH_RELINK
        :: yy != ww && SHARED(nver[xx]) ->       /* next must change and a snapshot may see it: copy (I3) */
           copy_node(xx, cp); nnext[cp] = ww; retire_node(xx); REACH(3)
#endif
        :: else -> assert(!VIS_N(xx)); nnext[xx] = ww; cp = xx; REACH(7)     /* private: relink in place */
        fi;
        lnode = false; lnk = cc; write_link(cp)
     fi
  :: else -> skip
  fi;
  xx = 0; yy = 0; ww = 0
}

/* StateTable::insert_new; `grow` abstracts `len() > threshold` (the rehash may start at any insert). */
inline insert_new(k, v, grow) {
  if
  :: grow && !rehashing && pcap == 1 ->
     alloc_chunk(nc); ndir[0] = nc;           /* Directory::new(2C, V) */
     alloc_chunk(nc); ndir[1] = nc;
     rehashing = true; rh = 0
  :: else -> skip
  fi;
  if
  :: rehashing -> fsub = 1; fb = HASH(k) & 1        /* old bucket 0 <= rh: insert into the new table */
  :: else -> fsub = 0; fb = HASH(k) & (pcap - 1)
  fi;
  head_cell_for_write(fsub, fb);
  alloc_node(cp);
  nkey[cp] = k; nval[cp] = v; nnext[cp] = chead[cc]; nver[cp] = V;
  lnode = false; lnk = cc; write_link(cp)
}

/* StateTable::replace_state: a shared node is replaced by a copy carrying the new state, after its chain
   prefix is made private (I3, I6); a private node's state is written in place. */
inline replace_state(v) {
  if
  :: SHARED(nver[fnd]) ->
     privatize_prefix(fsub, fb, fnd);
     copy_node(fnd, cp); nval[cp] = v;
     write_link(cp);                           /* chain::replace_shared */
     retire_node(fnd)
  :: else -> assert(!VIS_N(fnd)); nval[fnd] = v
  fi
}

/* StateTable::put / put_and_get_old */
inline put(k, v, grow) {
  find(k);
  if
  :: fnd == NIL -> insert_new(k, v, grow)
  :: else -> replace_state(v)
  fi;
  amap[k] = v
}

/* StateTable::remove / remove_and_get_old: privatize the prefix, unlink, retire if shared else free. */
inline remove(k) {
  find(k);
  if
  :: fnd != NIL ->
     sh = SHARED(nver[fnd]);
     privatize_prefix(fsub, fb, fnd);
     write_link(nnext[fnd]);                  /* chain::unlink */
     if :: sh -> retire_node(fnd) :: else -> free_node(fnd) fi;
     amap[k] = 0
  :: else -> skip
  fi;
  sh = false
}

/* StateTable::get_mut: make_private (copy node and prefix if shared), then the caller writes the state
   in place (here: flips it). */
inline get_mut(k) {
  find(k);
  if
  :: fnd != NIL ->
     if
     :: STATE_SHARED(nver[fnd]) ->
        privatize_prefix(fsub, fb, fnd);
        copy_node(fnd, cp);
        write_link(cp);                        /* chain::replace_shared */
        retire_node(fnd);
        fnd = cp
     :: else -> skip
     fi;
     assert(!VIS_N(fnd));
     nval[fnd] = 3 - nval[fnd];
     amap[k] = nval[fnd]
  :: else -> skip
  fi
}

/* StateTable::transform with f(old) = flip(old), f(None) = 1: a shared state goes through replace_state
   with the new state (f got a clone); a private one is written in place after privatize_prefix. */
inline transform(k) {
  find(k);
  if
  :: fnd == NIL -> insert_new(k, 1, false); amap[k] = 1
  :: else ->
     uu = 3 - nval[fnd];
     if
     :: STATE_SHARED(nver[fnd]) -> replace_state(uu)
     :: else ->
        privatize_prefix(fsub, fb, fnd);
        assert(!VIS_N(fnd));
        nval[fnd] = uu
     fi;
     amap[k] = uu
  fi;
  uu = 0
}

/* Shared::publish: the bounds of the live set (called with the registry mutex held). */
inline publish() {
  bR = 0; bO = NONE_O;
  if :: L[0] -> bR = sver[0]; bO = sver[0] :: else -> skip fi;
  if
  :: L[1] ->
     if :: sver[1] > bR -> bR = sver[1] :: else -> skip fi;
     if :: sver[1] < bO -> bO = sver[1] :: else -> skip fi
  :: else -> skip
  fi
}

/* StateTable::renormalise (I12): no snapshot is live (seen under the mutex). */
inline renormalise() {
  it = 0;
  do
  :: it < NN ->
     if
     :: nst[it] == RETIRED -> free_node(it)
     :: nst[it] == LIVE -> assert(!VIS_N(it)); nver[it] = 0
     :: else -> skip
     fi; it++
  :: else -> break
  od;
  it = 0;
  do
  :: it < NC ->
     if
     :: cst[it] == RETIRED -> free_chunk(it)
     :: cst[it] == LIVE -> cver[it] = 0
     :: else -> skip
     fi; it++
  :: else -> break
  od;
  it = 0;
  REACH(1);
  V = 0
}

/* ghost: the footprint of snapshot s -- every chunk and node its copied directories reach. */
inline add_chain(s, ch) {
  fpc[s] = fpc[s] | (1 << ch);
  cur = chead[ch]; hcnt = 0;
  do
  :: cur == NIL -> break
  :: else -> assert(hcnt < NN); hcnt++; fpn[s] = fpn[s] | (1 << cur); cur = nnext[cur]
  od;
  hcnt = 0
}

/* StateTable::snapshot: renormalise if due and possible; V += 1; copy the directories (both and the rehash
   index during a rehash); register the version under the mutex and publish the bounds (I4, I8). */
inline snapshot(s) {
  if :: V >= VLIMIT && !L[0] && !L[1] -> renormalise() :: else -> skip fi;
  if
  :: V >= VMAX -> REACH(6)                        /* SnapshotError::VersionsExhausted */
  :: else ->
     V++;
     scap[s] = pcap; sdir[2*s] = pdir[0]; sdir[2*s+1] = (pcap == 2 -> pdir[1] : 0);
#ifdef MUTANT_SNAPSHOT_SKIPS_REHASH_TABLE
     srh[s] = false;
#else
     srh[s] = rehashing;
#endif
     snew[2*s] = (srh[s] -> ndir[0] : 0); snew[2*s+1] = (srh[s] -> ndir[1] : 0);
     sexp[2*s] = amap[0]; sexp[2*s+1] = amap[1];
     fpn[s] = 0; fpc[s] = 0;
     add_chain(s, sdir[2*s]);
     if :: scap[s] == 2 -> add_chain(s, sdir[2*s+1]) :: else -> skip fi;
     if :: srh[s] -> add_chain(s, snew[2*s]); add_chain(s, snew[2*s+1]) :: else -> skip fi;
     reading[s] = true;
     L[s] = true; sver[s] = V; publish();
     taken[s] = true
  fi
}

/* ------------------------------------------------------------------------------------------------ */
/* P5: structural invariants of the live table after each write operation                          */

inline check_chain(ch, sub, b) {
  assert(cst[ch] == LIVE);                    /* I5: a live directory's chunk is owned by it */
  cur = chead[ch]; hcnt = 0;
  do
  :: cur == NIL -> break
  :: else ->
     assert(hcnt < NN); hcnt++;
     assert(nst[cur] == LIVE);                /* I5 */
     assert(nver[cur] <= V);                  /* I1 */
     assert(((uu >> nkey[cur]) & 1) == 0);     /* I11: no key twice */
     uu = uu | (1 << nkey[cur]);
     assert(nval[cur] == amap[nkey[cur]]);    /* the live view is the functional map */
     /* I10: bucket h & (C-1) of the primary; during a rehash old bucket 0 or new bucket h & 1 */
     assert((sub == 0 && (HASH(nkey[cur]) & (pcap - 1)) == b) || (sub == 1 && (HASH(nkey[cur]) & 1) == b));
     ww = ww + 1;
     cur = nnext[cur]
  od;
  hcnt = 0
}

inline check() {
  assert(cR >= bR && cO <= bO);              /* I4: the writer's read errs on the safe side */
  uu = 0; ww = 0;
  check_chain(pdir[0], 0, 0);
  if :: pcap == 2 -> check_chain(pdir[1], 0, 1) :: else -> skip fi;
  if :: rehashing -> check_chain(ndir[0], 1, 0); check_chain(ndir[1], 1, 1) :: else -> skip fi;
  assert(((uu & 1) != 0) == (amap[0] != 0) && ((uu & 2) != 0) == (amap[1] != 0));
  /* I5: exactly as many LIVE node slots as nodes reached (so each is reached once); nothing else owned */
  it = 0; xx = 0; yy = 0;
  do
  :: it < NN -> if :: nst[it] == LIVE -> xx++ :: else -> skip fi;
               assert(nst[it] == FREE || (nver[it] <= V && ntag[it] <= V)); it++      /* I1 */
  :: else -> break
  od;
  assert(xx == ww);
  it = 0;
  do
  :: it < NC -> if :: cst[it] == LIVE -> yy++ :: else -> skip fi;
               assert(cst[it] == FREE || (cver[it] <= V && ctag[it] <= V)); it++      /* I1 */
  :: else -> break
  od;
  assert(yy == pcap + (rehashing -> 2 : 0));
  /* I1, I2: live snapshots are <= V and reach only objects older than themselves */
  s2 = 0;
  do
  :: s2 < 2 ->
     if
     :: L[s2] && reading[s2] ->
        assert(sver[s2] <= V);
        it = 0;
        do
        :: it < NN -> assert(((fpn[s2] >> it) & 1) == 0 || nver[it] < sver[s2]); it++
        :: else -> break
        od;
        it = 0;
        do
        :: it < NC -> assert(((fpc[s2] >> it) & 1) == 0 || cver[it] < sver[s2]); it++
        :: else -> break
        od
     :: else -> skip
     fi; s2++
  :: else -> break
  od;
  s2 = 0; it = 0; uu = 0; ww = 0; xx = 0; yy = 0
}

/* ------------------------------------------------------------------------------------------------ */
/* processes                                                                                        */

/* Snapshot::release in its real steps (src/snapshot/mod.rs): lock the registry mutex; remove s from the live
   set; compute the bounds of the new live set (Registry::bounds) and publish them with the Release store
   (Shared::publish); unlock. Each step is its own transition, so the writer's bounds load, its snapshot
   (which registers under the same mutex and may renormalise, I12) and the other reader interleave with them.
   MUTANT_PUBLISH_AFTER_UNLOCK computes the bounds under the lock but stores them after the unlock: a snapshot
   registered in between is then hidden by the stale store (R too low), and the writer writes in place what it
   can see (P1). */
inline release(s) {
  atomic { mtx == 0 -> mtx = 1 };                       /* lock */
  d_step { L[s] = false; sver[s] = 0 };                 /* update the live set */
#ifdef MUTANT_PUBLISH_AFTER_UNLOCK
  d_step {                                              /* compute the bounds under the lock ... */
    nR = 0; nO = NONE_O;
    if :: L[0] -> nR = sver[0]; nO = sver[0] :: else -> skip fi;
    if
    :: L[1] ->
       if :: sver[1] > nR -> nR = sver[1] :: else -> skip fi;
       if :: sver[1] < nO -> nO = sver[1] :: else -> skip fi
    :: else -> skip
    fi
  };
  mtx = 0;                                              /* ... unlock ... */
  d_step { bR = nR; bO = nO; nR = 0; nO = 0 }           /* ... then publish: the mutant */
#else
  d_step { publish() };                                 /* compute and publish (Release store, I8) */
  mtx = 0                                               /* unlock */
#endif
}

/* A thread holding snapshot slot s: iterates it (Snapshot::iter over View.dirs), asserting that what it reads
   is allocated and equals the contents captured at snapshot time (P3, I9), then releases it. */
proctype Reader(byte s) {
  byte j, ch, n, seen, nR, nO;
end_wait:
  do
  :: taken[s] ->
#ifdef MUTANT_RELAXED_RELEASE
     release(s);                              /* a Relaxed store may become visible before the reads */
#endif
     j = 0;
     do
     :: j < 4 ->
        d_step {
          ch = NIL;
          if
          :: j < scap[s] -> ch = sdir[2*s + j]
          :: j >= 2 && srh[s] -> ch = snew[2*s + j - 2]
          :: else -> skip
          fi;
          if
          :: ch != NIL ->
             assert(cst[ch] != FREE);                           /* P2 seen from the reader */
             n = chead[ch];
             do
             :: n == NIL -> break
             :: else ->
                assert(nst[n] != FREE);                         /* P2 */
                assert(((seen >> nkey[n]) & 1) == 0);           /* a key at most once */
                assert(nval[n] == sexp[2*s + nkey[n]]);         /* P3: the captured state */
                seen = seen | (1 << nkey[n]);
                n = nnext[n]
             od
          :: else -> skip
          fi;
          j++; ch = 0; n = 0
        }
     :: else -> break
     od;
     /* P3: every captured entry was seen */
     assert(((seen & 1) != 0) == (sexp[2*s] != 0) && ((seen & 2) != 0) == (sexp[2*s+1] != 0));
     d_step { reading[s] = false; fpn[s] = 0; fpc[s] = 0; sexp[2*s] = 0; sexp[2*s+1] = 0; seen = 0; j = 0 }
#ifndef MUTANT_RELAXED_RELEASE
     release(s);
#endif
     taken[s] = false
  od
}

/* The writer: up to MAXOPS operations chosen nondeterministically, then (after every snapshot has been
   released) a last reclaim and the end-state checks P4. */
proctype Writer() {
  byte ops, op, k, v, cR, cO;
  bool grow;
  do
  :: ops < MAXOPS ->
     ops++;
     if
     :: op = 1; k = 0; v = 1 :: op = 1; k = 0; v = 2 :: op = 1; k = 1; v = 1 :: op = 1; k = 1; v = 2
     :: op = 1; k = 0; v = 1; grow = true :: op = 1; k = 1; v = 2; grow = true
     :: op = 2; k = 0 :: op = 2; k = 1         /* remove */
     :: op = 3; k = 0 :: op = 3; k = 1         /* get_mut */
     :: op = 4; k = 0 :: op = 4; k = 1         /* transform */
     :: !taken[0] -> op = 5; k = 0             /* snapshot for reader 0 */
     :: !taken[1] -> op = 5; k = 1             /* snapshot for reader 1 */
     fi;
     if
     :: op == 5 ->
        /* StateTable::snapshot registers under the registry mutex (and renormalises only when it sees, under
           it, that no snapshot is live, I12). */
        atomic { mtx == 0 -> mtx = 1 };
        d_step { snapshot(k) };
        mtx = 0
     :: else ->
        /* begin_write: Acquire load of the bounds word (I8); R and O may go stale from here on (I4) */
        d_step { cR = bR; cO = bO };
        d_step {
          reclaim(cO);
          rehash_step();
          if
          :: op == 1 -> put(k, v, grow)
          :: op == 2 -> remove(k)
          :: op == 3 -> get_mut(k)
          :: op == 4 -> transform(k)
          :: else -> skip
          fi;
          check()
        }
     fi;
     d_step { op = 0; k = 0; v = 0; grow = false; cR = 0; cO = 0 }
  :: else -> break
  od;
  /* P4: once every snapshot is released, reclaim frees every retired object (I7 liveness) and every
     allocated slot is owned by the live structure (I5: nothing leaks). */
  (!taken[0] && !taken[1]);
  d_step {
    cR = bR; cO = bO;
    assert(cR == 0 && cO == NONE_O);
    reclaim(cO);
    check();
    it = 0;
    do
    :: it < NN -> assert(nst[it] != RETIRED); it++
    :: else -> break
    od;
    it = 0;
    do
    :: it < NC -> assert(cst[it] != RETIRED); it++
    :: else -> break
    od;
    it = 0
  }
}

init {
  d_step {
    it = 0;
    do :: it < NN -> nnext[it] = NIL; it++ :: else -> break od;
    it = 0;
    do :: it < NC -> chead[it] = NIL; it++ :: else -> break od;
    it = 0;
    /* Directory::new(1, 0): one chunk at version 0 */
    cst[0] = LIVE; pdir[0] = 0
  };
  atomic {
    run Writer();
    run Reader(0);
    run Reader(1)
  }
}
