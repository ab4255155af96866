(** * Main.v -- the main theorems.

    - [step_preserves_inv]: every operation (put, remove, get_mut, transform, one rehash step -- start,
      advance, migrate, finish --, snapshot, release, reclaim, renormalise), run with any bounds R, O that
      cover the live snapshots (I4), preserves [inv].
    - [reachable_inv]: every state reachable from an empty table satisfies [inv].
    - [snapshot_isolation] (a): in every reachable state, every live snapshot's view -- what iterating its
      copied directories reaches in the current heap -- is exactly the contents it captured, and
      [snapshot_captures] says what it captured is the live view at the moment it was taken.
    - [live_view_is_map] (b): in every reachable state, the live table's view is the functional map [amap]
      (which each operation updates with [setk] exactly as the operation's specification says: put sets,
      remove clears, get_mut / transform set, the rest leave it alone).
    - [structure_ok] (c): the structural invariants hold: nothing allocated at or above [fresh]; the live
      chunks and nodes are distinct (I5), allocated, of version <= V (I1) and not retired (I5); during a
      rehash old buckets below rh are empty (I10, rh part); retire tags <= V (I1), retired objects allocated
      and queued once (I5), and every allocated object is live or retired (I5: nothing leaks); every live
      snapshot s has 1 <= s <= V (I1) and reaches only allocated objects of
      version < s (I2, I7) whose retire tags are >= s (I6, I7). The key uniqueness (I11) is part of (b). *)

From Coq Require Import List Arith Lia Bool.
Import ListNotations.
From CowTable Require Import Model Ops Frame Blocks Live Preserve.

Theorem step_preserves_inv R O st st' :
  bounds_ok st R O -> inv st -> step R O st st' -> inv st'.
Proof.
  intros B I S. destruct S.
  - eapply put_insert_inv; eauto.
  - eapply put_replace_shared_inv; eauto.
  - eapply put_in_place_inv; eauto.
  - eapply transform_private_inv; eauto.
  - eapply remove_inv; eauto.
  - eapply rehash_start_inv; eauto.
  - eapply rehash_advance_inv; eauto.
  - eapply rehash_finish_inv; eauto.
  - eapply rehash_migrate_inv; eauto.
  - eapply snapshot_inv; eauto.
  - eapply release_inv; eauto.
  - eapply reclaim_inv; eauto.
  - eapply renormalise_inv; eauto.
Qed.

(** An empty table of [C] buckets (Directory::new(C, 0)): chunks at addresses 0 .. C-1. *)
Definition init_state (C : nat) : state :=
  mkSt (fun x => if x <? C then Some (OChunk (mkC None 0)) else None) C (seq 0 C) None 0 [] []
       (fun _ => None).

Lemma init_inv C : inv (init_state C).
Proof.
  constructor; simpl.
  - intros a L. rewrite (proj2 (Nat.ltb_ge _ _) L). auto.
  - exists (repeat [] C). unfold live_ok, live_dirs, newdir; simpl. rewrite app_nil_r.
    split; [|split; [|split; [|split]]].
    + apply dirv_fresh_chunks with 0. intros x L. rewrite (proj2 (Nat.ltb_lt _ _)); auto; lia.
    + unfold footprint. rewrite concat_repeat_nil, app_nil_r. apply seq_NoDup.
    + intros a J. unfold footprint in J. rewrite concat_repeat_nil, app_nil_r in J. apply in_seq in J.
      split; [lia|]. split; [|intros []]. exists (OChunk (mkC None 0)).
      rewrite (proj2 (Nat.ltb_lt _ _)); [auto|lia].
    + rewrite contents_repeat. split; [constructor|]. intros k v; split; [intros []|discriminate].
    + intros nd rh Q; discriminate.
  - intros e a [].
  - constructor.
  - intros s [].
  - intros ls a D Ha. unfold live_dirs, newdir in D |- *. simpl in D, Ha |- *. rewrite app_nil_r in D |- *.
    assert (D0 : dirv (fun x => if x <? C then Some (OChunk (mkC None 0)) else None) (seq 0 C) (repeat [] C))
      by (apply dirv_fresh_chunks with 0; intros x L; rewrite (proj2 (Nat.ltb_lt _ _)); auto; lia).
    pose proof (dirv_det _ _ _ _ D D0) as ->. left. unfold footprint. rewrite concat_repeat_nil, app_nil_r.
    apply in_seq. destruct (a <? C) eqn:E; [apply Nat.ltb_lt in E; lia|exfalso; apply Ha; auto].
Qed.

Inductive reachable : state -> Prop :=
| reach_init : forall C, reachable (init_state C)
| reach_step : forall R O st st', reachable st -> bounds_ok st R O -> step R O st st' -> reachable st'.

Theorem reachable_inv st : reachable st -> inv st.
Proof. induction 1; [apply init_inv | eapply step_preserves_inv; eauto]. Qed.

(** (a) Copy-on-write isolation. *)
Theorem snapshot_isolation st : reachable st ->
  forall s, In s (snaps st) -> view_of (hp st) (sdirs s) (scont s).
Proof.
  intros Rs s J. destruct (inv_snaps st (reachable_inv st Rs) s J) as [_ [ls [D [C _]]]].
  exists ls; auto.
Qed.

(** What a snapshot captured: a snapshot live after a step either was live before (its record unchanged) or
    was taken by that step, and then it copied the live directories and captured the live view. *)
Theorem snapshot_captures R O st st' : step R O st st' ->
  forall s, In s (snaps st') ->
    In s (snaps st) \/
    (sv s = S (ver st) /\ sdirs s = live_dirs st /\ view_of (hp st) (live_dirs st) (scont s)).
Proof.
  intros S s J. destruct S; simpl in *;
    try (rewrite (proj2 (proj2 (proj2 (proj2 (proj2 (with_slot_fields _ _ _ _ _ _ _)))))) in J);
    auto.
  - destruct J as [<-|J]; auto.
  - left. rewrite H. apply in_app_or in J as [J|J]; apply in_or_app; simpl; auto.
  - destruct J.
Qed.

(** (b) The live view is the functional map. *)
Theorem live_view_is_map st : reachable st ->
  exists kv, view_of (hp st) (live_dirs st) kv /\ map_ok (amap st) kv.
Proof.
  intros Rs. destruct (inv_live st (reachable_inv st Rs)) as [ls [D [_ [_ [M _]]]]].
  exists (contents (hp st) ls). split; auto. exists ls; auto.
Qed.

(** (c) The structural invariants. *)
Theorem structure_ok st : reachable st ->
  (forall a, fresh st <= a -> hp st a = None) /\
  (exists ls, dirv (hp st) (live_dirs st) ls /\ NoDup (footprint (live_dirs st) ls) /\
     (forall a, In a (footprint (live_dirs st) ls) ->
        exists o, hp st a = Some o /\ over o <= ver st /\ ~ In a (map snd (retq st))) /\
     rehash_ok st ls) /\
  (forall e a, In (e, a) (retq st) -> e <= ver st /\ hp st a <> None) /\ NoDup (map snd (retq st)) /\
  (forall ls a, dirv (hp st) (live_dirs st) ls -> hp st a <> None ->
     In a (footprint (live_dirs st) ls) \/ In a (map snd (retq st))) /\
  (forall s, In s (snaps st) -> 1 <= sv s <= ver st /\
     exists ls, dirv (hp st) (sdirs s) ls /\
       forall a, In a (footprint (sdirs s) ls) ->
         (exists o, hp st a = Some o /\ over o < sv s) /\ (forall e, In (e, a) (retq st) -> sv s <= e)).
Proof.
  intros Rs. pose proof (reachable_inv st Rs) as I. split; [apply (inv_fresh st I)|].
  split; [|split; [|split; [|split]]].
  - destruct (inv_live st I) as [ls [D [N [A [_ R]]]]]. exists ls. split; auto. split; auto. split; auto.
    intros a J. destruct (A a J) as [_ [[o [Ho Lo]] Nq]]. eauto.
  - intros e a J. destruct (inv_retq st I e a J) as [L [_ N]]. auto.
  - apply (inv_retq_nodup st I).
  - apply (inv_owned st I).
  - intros s J. destruct (inv_snaps st I s J) as [V [ls [D [_ F]]]]. split; auto. exists ls; auto.
Qed.
