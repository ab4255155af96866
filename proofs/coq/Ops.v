(** * Ops.v -- the operations of the table as a step relation, and the invariant.

    Each constructor of [step R O] is one operation of src/table/mod.rs (or one rehash step, snapshot,
    release, reclaim, renormalisation). [R] and [O] are the bounds the writer read at the start of the
    operation (begin_write); the theorems hold for any [R], [O] with [cow_ok] (I4: stale bounds err on the
    safe side). Where the code's choice depends on the hash (which bucket a key lives in), the relation allows
    any bucket, so the theorems cover the code's choice a fortiori; [amap st k = None] stands for "find
    returned None" (placement, I10, is what makes the code's find agree with it). *)

From Coq Require Import List Arith Lia Bool.
Import ListNotations.
From CowTable Require Import Model.

Definition opt_eqb (a b : option nat) : bool :=
  match a, b with Some x, Some y => Nat.eqb x y | None, None => true | _, _ => false end.

(** rehash::step, the move of node [t] onto new head [nh]: unchanged if its next is already [nh]; else a copy
    if shared (I3; mutant-rehash-relink relinks it instead), else relinked in place. *)
Definition migrate (R V : nat) (h : heap) (f t : nat) (n : node) (nh : option nat)
  : heap * nat * list nat * nat :=
  if opt_eqb (next n) nh then (h, f, [], t)
  else if shared R (nver n) then (upd h f (ONode (mkN (key n) (val n) nh V)), S f, [t], f)
  else (upd h t (ONode (mkN (key n) (val n) nh (nver n))), f, [], t).

(** Directory::new(2C, V): [n] empty chunks at addresses f .. f+n-1. *)
Definition alloc_chunks (h : heap) (f n V : nat) : heap :=
  fun x => if (f <=? x) && (x <? f + n) then Some (OChunk (mkC None V)) else h x.

(** Directory::retire_chunks (finish_rehash): shared chunks are retired, private ones freed. *)
Definition free_private (R : nat) (h : heap) (d : list nat) : heap :=
  fun x => if existsb (Nat.eqb x) d
           then match h x with Some o => if shared R (over o) then Some o else None | None => None end
           else h x.
Definition shared_chunks (R : nat) (h : heap) (d : list nat) : list nat :=
  filter (fun c => match h c with Some o => shared R (over o) | None => false end) d.

(** Frees a list of addresses. *)
Definition free_all (h : heap) (l : list nat) : heap := fun x => if existsb (Nat.eqb x) l then None else h x.

(** RetireQueue::reclaim(O) (I7): frees entries with tag < O, keeps the rest. *)
Definition reclaimed (O : nat) (q : list (nat * nat)) : list nat := map snd (filter (fun e => fst e <? O) q).
Definition kept (O : nat) (q : list (nat * nat)) : list (nat * nat) := filter (fun e => O <=? fst e) q.

(** StateTable::renormalise (I12): retired objects freed, live objects' versions set to 0. *)
Definition zero_ver (o : obj) : obj :=
  match o with
  | ONode n => ONode (mkN (key n) (val n) (next n) 0)
  | OChunk k => OChunk (mkC (head k) 0)
  end.
Definition renorm (h : heap) (live dead : list nat) : heap :=
  fun x => if existsb (Nat.eqb x) live then option_map zero_ver (h x)
           else if existsb (Nat.eqb x) dead then None else h x.

(** StateTable::insert_new goes to the new directory for old buckets <= rh. *)
Definition insert_ok (st : state) (w : bool) (d1 : list nat) : Prop :=
  w = false -> forall nd rh, reh st = Some (nd, rh) -> rh < length d1.

Inductive step (R O : nat) : state -> state -> Prop :=
(** put / transform of an absent key: StateTable::insert_new (a new node at the head of the bucket). The
    three put_* steps also stand for get_mut and for transform wherever the code's effect on the structure is
    the same (absent key: insert; shared node: replace by a copy; private node under get_mut: write in place),
    so those operations are not separate constructors. *)
| put_insert : forall st w d1 c d2 kc k v h2 f2 r c1,
    slot st w d1 c d2 -> insert_ok st w d1 -> amap st k = None ->
    hp st c = Some (OChunk kc) ->
    relink R (ver st) (upd (hp st) (fresh st) (ONode (mkN k v (head kc) (ver st)))) (S (fresh st)) c []
      (Some (fresh st)) = (h2, f2, r, c1) ->
    step R O st (with_slot st w (d1 ++ c1 :: d2) h2 f2 (retq st ++ tag (ver st) r) (setk (amap st) k (Some v)))
(** put / get_mut / transform of a shared node: StateTable::replace_state / make_private -- prefix made
    private, the node replaced by a copy carrying the new state, the original retired (I3, I6). *)
| put_replace_shared : forall st w d1 c d2 kc p t s n v h2 f2 r c1,
    slot st w d1 c d2 -> hp st c = Some (OChunk kc) -> chain (hp st) (head kc) (p ++ t :: s) ->
    hp st t = Some (ONode n) -> shared R (nver n) = true ->
    relink R (ver st) (upd (hp st) (fresh st) (ONode (mkN (key n) v (next n) (ver st)))) (S (fresh st)) c p
      (Some (fresh st)) = (h2, f2, r, c1) ->
    step R O st (with_slot st w (d1 ++ c1 :: d2) h2 f2 (retq st ++ tag (ver st) (r ++ [t]))
                   (setk (amap st) (key n) (Some v)))
(** put / get_mut of a private node: the state written in place (Node::replace_state, state_mut). *)
| put_in_place : forall st w d1 c d2 kc p t s n v,
    slot st w d1 c d2 -> hp st c = Some (OChunk kc) -> chain (hp st) (head kc) (p ++ t :: s) ->
    hp st t = Some (ONode n) -> shared R (nver n) = false ->
    step R O st (with_slot st w (d1 ++ c :: d2) (upd (hp st) t (ONode (mkN (key n) v (next n) (nver n))))
                   (fresh st) (retq st) (setk (amap st) (key n) (Some v)))
(** transform of a private node: prefix made private first (the panic path), then the state written. *)
| transform_private : forall st w d1 c d2 kc p t s n v h2 f2 r c1,
    slot st w d1 c d2 -> hp st c = Some (OChunk kc) -> chain (hp st) (head kc) (p ++ t :: s) ->
    hp st t = Some (ONode n) -> shared R (nver n) = false ->
    relink R (ver st) (hp st) (fresh st) c p (Some t) = (h2, f2, r, c1) ->
    step R O st (with_slot st w (d1 ++ c1 :: d2) (upd h2 t (ONode (mkN (key n) v (next n) (nver n)))) f2
                   (retq st ++ tag (ver st) r) (setk (amap st) (key n) (Some v)))
(** remove: prefix made private, the node unlinked, then retired if shared or freed if private. *)
| remove : forall st w d1 c d2 kc p t s n h2 f2 r c1,
    slot st w d1 c d2 -> hp st c = Some (OChunk kc) -> chain (hp st) (head kc) (p ++ t :: s) ->
    hp st t = Some (ONode n) ->
    relink R (ver st) (hp st) (fresh st) c p (next n) = (h2, f2, r, c1) ->
    step R O st (with_slot st w (d1 ++ c1 :: d2) (if shared R (nver n) then h2 else hfree h2 t) f2
                   (retq st ++ tag (ver st) (r ++ if shared R (nver n) then [t] else []))
                   (setk (amap st) (key n) None))
(** the start of an incremental rehash (insert_new when len > threshold): a new directory of 2C empty
    chunks at version V, rehash index 0. *)
| rehash_start : forall st,
    reh st = None ->
    step R O st (mkSt (alloc_chunks (hp st) (fresh st) (2 * length (prim st)) (ver st))
                   (fresh st + 2 * length (prim st)) (prim st)
                   (Some (seq (fresh st) (2 * length (prim st)), 0)) (ver st) (snaps st) (retq st) (amap st))
(** rehash step: old bucket rh is empty, rh advances. *)
| rehash_advance : forall st nd rh c kc,
    reh st = Some (nd, rh) -> nth_error (prim st) rh = Some c -> hp st c = Some (OChunk kc) -> head kc = None ->
    step R O st (mkSt (hp st) (fresh st) (prim st) (Some (nd, S rh)) (ver st) (snaps st) (retq st) (amap st))
(** rehash step: rh = C, StateTable::finish_rehash (the new directory becomes the primary). *)
| rehash_finish : forall st nd rh,
    reh st = Some (nd, rh) -> rh = length (prim st) ->
    step R O st (mkSt (free_private R (hp st) (prim st)) (fresh st) nd None (ver st) (snaps st)
                   (retq st ++ tag (ver st) (shared_chunks R (hp st) (prim st))) (amap st))
(** rehash step: the head node of old bucket rh is unlinked and pushed onto its new bucket. *)
| rehash_migrate : forall st nd rh d1 c d2 kc t n h1 f1 r1 c1 e1 c' e2 h2 f2 r2 c2 k2 h3 f3 r3 mv,
    reh st = Some (nd, rh) -> prim st = d1 ++ c :: d2 -> length d1 = rh ->
    hp st c = Some (OChunk kc) -> head kc = Some t -> hp st t = Some (ONode n) ->
    relink R (ver st) (hp st) (fresh st) c [] (next n) = (h1, f1, r1, c1) ->
    nd = e1 ++ c' :: e2 ->
    cfw R (ver st) h1 f1 c' = (h2, f2, r2, c2) -> h2 c2 = Some (OChunk k2) ->
    migrate R (ver st) h2 f2 t n (head k2) = (h3, f3, r3, mv) ->
    step R O st (mkSt (set_head h3 c2 (Some mv)) f3 (d1 ++ c1 :: d2) (Some (e1 ++ c2 :: e2, rh)) (ver st)
                   (snaps st) (retq st ++ tag (ver st) (r1 ++ r2 ++ r3)) (amap st))
(** StateTable::snapshot: V += 1, the live directories copied, the version registered. *)
| snapshot : forall st kv,
    view_of (hp st) (live_dirs st) kv ->
    step R O st (mkSt (hp st) (fresh st) (prim st) (reh st) (S (ver st))
                   (mkS (S (ver st)) (live_dirs st) kv :: snaps st) (retq st) (amap st))
(** Snapshot::release, in any order. *)
| release : forall st s1 s s2,
    snaps st = s1 ++ s :: s2 ->
    step R O st (mkSt (hp st) (fresh st) (prim st) (reh st) (ver st) (s1 ++ s2) (retq st) (amap st))
(** RetireQueue::reclaim(O) at the start of a write (I7). *)
| reclaim : forall st,
    step R O st (mkSt (free_all (hp st) (reclaimed O (retq st))) (fresh st) (prim st) (reh st) (ver st)
                   (snaps st) (kept O (retq st)) (amap st))
(** StateTable::renormalise (I12): only with no live snapshot. *)
| renormalise : forall st ls,
    snaps st = [] -> dirv (hp st) (live_dirs st) ls ->
    step R O st (mkSt (renorm (hp st) (footprint (live_dirs st) ls) (map snd (retq st))) (fresh st)
                   (prim st) (reh st) 0 [] [] (amap st)).

(** ** The invariant *)

(** The functional map [m] is exactly the association list [kv] (I11: no key twice). *)
Definition map_ok (m : nat -> option nat) (kv : list (nat * nat)) : Prop :=
  NoDup (map fst kv) /\ forall k v, In (k, v) kv <-> m k = Some v.

(** Everything a live snapshot reaches is allocated, older than the snapshot (I2), and if retired, retired
    at a tag >= the snapshot (so reclaim with O <= s keeps it, I7); its view is what it captured (I9). *)
Definition snap_ok (st : state) (s : snap) : Prop :=
  1 <= sv s <= ver st /\
  exists ls, dirv (hp st) (sdirs s) ls /\ contents (hp st) ls = scont s /\
    forall a, In a (footprint (sdirs s) ls) ->
      (exists o, hp st a = Some o /\ over o < sv s) /\ (forall e, In (e, a) (retq st) -> sv s <= e).

(** During a rehash, old buckets below rh are empty (I10); [ls] lists the primary's chains first. *)
Definition rehash_ok (st : state) (ls : list (list nat)) : Prop :=
  forall nd rh, reh st = Some (nd, rh) ->
    rh <= length (prim st) /\ forall i, i < rh -> nth i ls [] = [].

(** The live structure: its chunks and nodes are distinct (I5), allocated, below [fresh], of version <= V
    (I1), not in the retire queue (I5), and its contents are the functional map (I11 and the view). *)
Definition live_ok (st : state) (ls : list (list nat)) : Prop :=
  dirv (hp st) (live_dirs st) ls /\
  NoDup (footprint (live_dirs st) ls) /\
  (forall a, In a (footprint (live_dirs st) ls) ->
     a < fresh st /\ (exists o, hp st a = Some o /\ over o <= ver st) /\ ~ In a (map snd (retq st))) /\
  map_ok (amap st) (contents (hp st) ls) /\
  rehash_ok st ls.

Record inv (st : state) : Prop := {
  inv_fresh : forall a, fresh st <= a -> hp st a = None;
  inv_live : exists ls, live_ok st ls;
  inv_retq : forall e a, In (e, a) (retq st) -> e <= ver st /\ a < fresh st /\ hp st a <> None;
  inv_retq_nodup : NoDup (map snd (retq st));
  inv_snaps : forall s, In s (snaps st) -> snap_ok st s;
  (* I5: nothing leaks -- every allocated object is owned by the live structure or the retire queue *)
  inv_owned : forall ls a, dirv (hp st) (live_dirs st) ls -> hp st a <> None ->
    In a (footprint (live_dirs st) ls) \/ In a (map snd (retq st))
}.
