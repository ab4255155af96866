(** * Model.v -- an abstract model of cow-state-table (docs/DESIGN.md).

    Memory is a heap from addresses to objects: nodes ([src/table/node.rs]: key, state, next, version) and
    chunks of the bucket directory ([src/table/directory.rs]: one bucket head and the chunk version; the code's
    chunk length does not matter to the protocol). A directory is a list of chunk addresses; the live table is
    the primary directory and, during an incremental rehash, the new directory and the rehash index
    ([src/table/rehash.rs]). A snapshot is a copy of the live directories with its version ([src/snapshot]).
    The retire queue ([src/snapshot/reclaim.rs]) is a list of (tag, address). Freed addresses are never
    reused (a fresh-address counter); reuse is covered by the SPIN model. *)

From Coq Require Import List Arith Lia Bool.
Import ListNotations.

Record node := mkN { key : nat; val : nat; next : option nat; nver : nat }.
Record chunk := mkC { head : option nat; cver : nat }.
Inductive obj := ONode (n : node) | OChunk (k : chunk).
Definition heap := nat -> option obj.

(** The version of an object (Node::version, ChunkRef::version). *)
Definition over (o : obj) : nat := match o with ONode n => nver n | OChunk k => cver k end.

Definition upd (h : heap) (a : nat) (o : obj) : heap := fun x => if Nat.eqb x a then Some o else h x.
Definition hfree (h : heap) (a : nat) : heap := fun x => if Nat.eqb x a then None else h x.

(** A chain: the addresses reached from a bucket head by following [next] (finite by construction). *)
Inductive chain (h : heap) : option nat -> list nat -> Prop :=
| chain_nil : chain h None []
| chain_cons : forall a n l, h a = Some (ONode n) -> chain h (next n) l -> chain h (Some a) (a :: l).

(** A directory (list of chunk addresses) and the chain of each of its buckets. *)
Inductive dirv (h : heap) : list nat -> list (list nat) -> Prop :=
| dirv_nil : dirv h [] []
| dirv_cons : forall c k l d ls,
    h c = Some (OChunk k) -> chain h (head k) l -> dirv h d ls -> dirv h (c :: d) (l :: ls).

Definition entry (h : heap) (a : nat) : nat * nat :=
  match h a with Some (ONode n) => (key n, val n) | _ => (0, 0) end.

(** The contents of a directory, bucket by bucket, as an association list (what Entries iterates). *)
Definition contents (h : heap) (ls : list (list nat)) : list (nat * nat) := concat (map (map (entry h)) ls).

(** The addresses a directory reaches: its chunks and every node of every chain. *)
Definition footprint (d : list nat) (ls : list (list nat)) : list nat := d ++ concat ls.

(** ** Versions and the writer's state *)

Record snap := mkS { sv : nat; sdirs : list nat; scont : list (nat * nat) }.

Record state := mkSt {
  hp : heap;                        (* memory *)
  fresh : nat;                      (* every address >= fresh is unallocated *)
  prim : list nat;                  (* StateTable.primary *)
  reh : option (list nat * nat);    (* StateTable.rehash: Some (new directory, rehash index) *)
  ver : nat;                        (* StateTable.version, V *)
  snaps : list snap;                (* Registry.live, L *)
  retq : list (nat * nat);          (* RetireQueue: (tag, address) *)
  amap : nat -> option nat          (* ghost: the functional map the operations define *)
}.

Definition newdir (st : state) : list nat := match reh st with Some (nd, _) => nd | None => [] end.
Definition live_dirs (st : state) : list nat := prim st ++ newdir st.

(** Cow::is_shared: an object of version [v] may be seen by a live snapshot (I2). *)
Definition shared (R v : nat) : bool := v <? R.

(** I4: the writer's (possibly stale) bounds [R] and [O]: R is at least, O at most, every live version. *)
Definition cow_ok (st : state) (R O : nat) : Prop :=
  forall s, In s (snaps st) -> O <= sv s /\ sv s <= R.

(** ** The code's building blocks *)

(** Directory::head_cell_for_write: copy the chunk if shared (I3), retire the original (I6). Returns the heap,
    the fresh counter, the retired addresses and the (private) chunk to write. *)
Definition cfw (R V : nat) (h : heap) (f c : nat) : heap * nat * list nat * nat :=
  match h c with
  | Some (OChunk k) =>
      if shared R (cver k) then (upd h f (OChunk (mkC (head k) V)), S f, [c], f) else (h, f, [], c)
  | _ => (h, f, [], c)
  end.

(** chain::privatize_prefix (Flink handleChainedEntryCopyOnWrite): the prefix [p] in front of the target is
    re-linked to [tl]; each shared node is replaced by a copy of version V and retired, each private node is
    written in place. (Computed from the back; the code walks from the front and writes the same links.) *)
Fixpoint privatize (R V : nat) (h : heap) (f : nat) (p : list nat) (tl : option nat)
  : heap * nat * list nat * option nat :=
  match p with
  | [] => (h, f, [], tl)
  | a :: p' =>
      let '(h1, f1, r1, tl1) := privatize R V h f p' tl in
      match h1 a with
      | Some (ONode n) =>
          if shared R (nver n)
          then (upd h1 f1 (ONode (mkN (key n) (val n) tl1 V)), S f1, a :: r1, Some f1)
          else (upd h1 a (ONode (mkN (key n) (val n) tl1 (nver n))), f1, r1, Some a)
      | _ => (h1, f1, r1, Some a)
      end
  end.

(** Writes the head cell of chunk [c]. *)
Definition set_head (h : heap) (c : nat) (hd : option nat) : heap :=
  match h c with Some (OChunk k) => upd h c (OChunk (mkC hd (cver k))) | _ => h end.

(** head_cell_for_write, privatize_prefix, then the write of the link: the chain of chunk [c] becomes the
    privatized prefix followed by what [tl] points to. *)
Definition relink (R V : nat) (h : heap) (f c : nat) (p : list nat) (tl : option nat)
  : heap * nat * list nat * nat :=
  let '(h1, f1, r1, c1) := cfw R V h f c in
  let '(h2, f2, r2, hd) := privatize R V h1 f1 p tl in
  (set_head h2 c1 hd, f2, r1 ++ r2, c1).

Definition tag (V : nat) (l : list nat) : list (nat * nat) := map (fun a => (V, a)) l.

Definition setk (m : nat -> option nat) (k : nat) (v : option nat) : nat -> option nat :=
  fun x => if Nat.eqb x k then v else m x.

(** Which directory slot an operation writes: bucket [length d1] of the primary ([false]) or of the new
    directory ([true]). *)
Definition slot (st : state) (w : bool) (d1 : list nat) (c : nat) (d2 : list nat) : Prop :=
  if w then exists rh, reh st = Some (d1 ++ c :: d2, rh) else prim st = d1 ++ c :: d2.

Definition with_slot (st : state) (w : bool) (d : list nat) (h : heap) (f : nat) (q : list (nat * nat))
  (m : nat -> option nat) : state :=
  if w
  then mkSt h f (prim st) (match reh st with Some (_, rh) => Some (d, rh) | None => None end)
            (ver st) (snaps st) q m
  else mkSt h f d (reh st) (ver st) (snaps st) q m.

(** The live table's chains and its contents. *)
Definition view_of (h : heap) (d : list nat) (kv : list (nat * nat)) : Prop :=
  exists ls, dirv h d ls /\ contents h ls = kv.
