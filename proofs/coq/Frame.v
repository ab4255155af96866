(** * Frame.v -- the key lemma, once: writes and frees touch only objects no live snapshot can reach.

    [keeps R h h']: every object of version < R is unchanged from [h] to [h'] (the writer writes only objects
    of version >= R or fresh ones, I3, and frees only those or retired ones, I7). A live snapshot [s] reaches
    only objects of version < s <= R (I2) whose retire tags are >= s >= O, so its view is unchanged. *)

From Coq Require Import List Arith Lia Bool.
Import ListNotations.
From CowTable Require Import Model Ops.

Definition keeps (R : nat) (h h' : heap) : Prop :=
  forall a o, h a = Some o -> over o < R -> h' a = Some o.

Lemma keeps_refl R h : keeps R h h.
Proof. intros a o H _; exact H. Qed.

Lemma keeps_trans R h1 h2 h3 : keeps R h1 h2 -> keeps R h2 h3 -> keeps R h1 h3.
Proof. intros A B a o H L. apply B; auto. Qed.

Lemma keeps_upd R h a o' : (forall o, h a = Some o -> R <= over o) -> keeps R h (upd h a o').
Proof.
  intros P x o H L. unfold upd. destruct (Nat.eqb_spec x a); subst; auto.
  apply P in H. lia.
Qed.

Lemma keeps_free R h a : (forall o, h a = Some o -> R <= over o) -> keeps R h (hfree h a).
Proof.
  intros P x o H L. unfold hfree. destruct (Nat.eqb_spec x a); subst; auto.
  apply P in H. lia.
Qed.

(** ** Frames of chains and directories *)

Lemma chain_frame h h' hd l :
  chain h hd l -> (forall a, In a l -> h' a = h a) -> chain h' hd l.
Proof.
  induction 1; intros E; [constructor|]. apply chain_cons with n.
  - rewrite E; simpl; auto.
  - apply IHchain. intros; apply E; simpl; auto.
Qed.

Lemma dirv_frame h h' d ls :
  dirv h d ls -> (forall a, In a (footprint d ls) -> h' a = h a) -> dirv h' d ls.
Proof.
  unfold footprint. induction 1; intros E; [constructor|]. apply dirv_cons with k.
  - rewrite E; simpl; auto.
  - apply chain_frame with h; auto. intros; apply E; simpl; right; apply in_or_app; right; apply in_or_app; auto.
  - apply IHdirv. intros x Hx; apply E. simpl. right. apply in_app_or in Hx as [Hx|Hx]; apply in_or_app; auto.
    right; apply in_or_app; auto.
Qed.

Lemma entries_frame h h' l : (forall a, In a l -> h' a = h a) -> map (entry h') l = map (entry h) l.
Proof.
  induction l; simpl; intros E; auto. f_equal; [unfold entry; rewrite E; auto | apply IHl; auto].
Qed.

Lemma contents_frame h h' ls :
  (forall a, In a (concat ls) -> h' a = h a) -> contents h' ls = contents h ls.
Proof.
  unfold contents. induction ls; simpl; intros E; auto.
  f_equal; [apply entries_frame | apply IHls]; intros; apply E; apply in_or_app; auto.
Qed.

Lemma chain_det h hd l1 l2 : chain h hd l1 -> chain h hd l2 -> l1 = l2.
Proof.
  intros A; revert l2; induction A; intros l2 B; inversion B; subst; auto.
  match goal with H1 : h a = Some (ONode n), H2 : h a = Some (ONode ?m) |- _ =>
    rewrite H1 in H2; inversion H2; subst end. f_equal; auto.
Qed.

Lemma dirv_det h d ls1 ls2 : dirv h d ls1 -> dirv h d ls2 -> ls1 = ls2.
Proof.
  intros A; revert ls2; induction A; intros ls2 B; inversion B; subst; auto.
  match goal with H1 : h c = Some (OChunk k), H2 : h c = Some (OChunk ?m) |- _ =>
    rewrite H1 in H2; inversion H2; subst end. f_equal; eauto using chain_det.
Qed.

(** ** The isolation lemma *)

Definition frame_ok (R O : nat) (st st' : state) : Prop :=
  (forall a o, hp st a = Some o -> over o < R -> (forall e, In (e, a) (retq st) -> O <= e) ->
               hp st' a = Some o) /\
  (forall e a, In (e, a) (retq st') -> In (e, a) (retq st) \/ e = ver st).

(** Copy-on-write isolation, generically: any transition that satisfies [frame_ok] for bounds that cover every
    live snapshot (I4) leaves every live snapshot's view -- and its other guarantees -- unchanged. *)
Lemma isolation R O st st' s :
  cow_ok st R O -> In s (snaps st) -> snap_ok st s -> frame_ok R O st st' -> ver st <= ver st' ->
  snap_ok st' s.
Proof.
  intros C I [Hv [ls [D [Ct F]]]] [K Q] Vle.
  destruct (C s I) as [Os sR].
  assert (E : forall a, In a (footprint (sdirs s) ls) -> hp st' a = hp st a).
  { intros a Ha. destruct (F a Ha) as [[o [Ho Lo]] T].
    rewrite Ho. apply K; auto; try lia. intros e Ie. specialize (T e Ie). lia. }
  split; [lia|]. exists ls. split; [|split].
  - apply dirv_frame with (hp st); auto.
  - rewrite contents_frame with (h := hp st); auto.
    intros a Ha; apply E; unfold footprint; apply in_or_app; auto.
  - intros a Ha. destruct (F a Ha) as [[o [Ho Lo]] T]. split.
    + exists o; rewrite E; auto.
    + intros e Ie. destruct (Q e a Ie) as [Ie2|Ee]; [apply T; auto | subst e; lia].
Qed.

(** A write transition: the heap only changes where [keeps] allows, the retire queue only grows by entries
    tagged V. *)
Lemma frame_of_keeps R O st st' q :
  keeps R (hp st) (hp st') -> retq st' = retq st ++ tag (ver st) q -> frame_ok R O st st'.
Proof.
  intros K Q. split.
  - intros a o H L _. apply K; auto.
  - intros e a I. rewrite Q in I. apply in_app_or in I as [I|I]; auto.
    right. unfold tag in I. apply in_map_iff in I as [x [Ex _]]. inversion Ex; auto.
Qed.
