(** * Live.v -- editing one bucket of the live structure keeps it well formed (I1, I5) and changes its
    contents only in that bucket. *)

From Coq Require Import List Arith Lia Bool Permutation.
Import ListNotations.
From CowTable Require Import Model Ops Frame Blocks.

Lemma NoDup_app_iff {A} (l1 l2 : list A) :
  NoDup (l1 ++ l2) <-> NoDup l1 /\ NoDup l2 /\ (forall x, In x l1 -> ~ In x l2).
Proof.
  induction l1 as [|a l1 IH]; simpl.
  - split; [intros N; repeat split; auto; constructor | intros [_ [N _]]; auto].
  - split.
    + intros N. inversion N; subst. apply IH in H2 as [N1 [N2 D]]. split; [|split]; auto.
      * constructor; auto. intros I; apply H1; apply in_or_app; auto.
      * intros x [<-|I] J; [apply H1; apply in_or_app; auto | apply (D x I J)].
    + intros [N1 [N2 D]]. inversion N1; subst. constructor.
      * intros I. apply in_app_or in I as [I|I]; [contradiction|]. apply (D a); simpl; auto.
      * apply IH. split; [|split]; auto; intros x I J; apply (D x); simpl; auto.
Qed.

Lemma dirv_app h d1 d2 ls : dirv h (d1 ++ d2) ls ->
  exists ls1 ls2, ls = ls1 ++ ls2 /\ dirv h d1 ls1 /\ dirv h d2 ls2 /\ length ls1 = length d1.
Proof.
  revert ls; induction d1 as [|c d1 IH]; simpl; intros ls D.
  - exists [], ls. repeat split; auto. constructor.
  - inversion D; subst. destruct (IH _ H4) as [ls1 [ls2 [-> [D1 [D2 L]]]]].
    exists (l :: ls1), ls2. repeat split; simpl; auto. econstructor; eauto.
Qed.

Lemma dirv_app2 h d1 d2 ls1 ls2 : dirv h d1 ls1 -> dirv h d2 ls2 -> dirv h (d1 ++ d2) (ls1 ++ ls2).
Proof. induction 1; simpl; auto. intros D; econstructor; eauto. Qed.

Lemma dirv_split h D1 c D2 ls : dirv h (D1 ++ c :: D2) ls ->
  exists L1 l L2 k, ls = L1 ++ l :: L2 /\ dirv h D1 L1 /\ h c = Some (OChunk k) /\ chain h (head k) l /\
    dirv h D2 L2 /\ length L1 = length D1.
Proof.
  intros D. apply dirv_app in D as [L1 [ls2 [-> [DD1 [DD2 L]]]]].
  inversion DD2 as [|c0 k l d ls3 Hc Cl Dr]; subst.
  exists L1, l, ls3, k. repeat split; auto.
Qed.

Lemma contents_app h ls1 ls2 : contents h (ls1 ++ ls2) = contents h ls1 ++ contents h ls2.
Proof. unfold contents. rewrite map_app, concat_app. auto. Qed.

Lemma footprint_perm D1 c D2 L1 l L2 :
  Permutation (footprint (D1 ++ c :: D2) (L1 ++ l :: L2)) ((c :: l) ++ (footprint D1 L1 ++ footprint D2 L2)).
Proof.
  unfold footprint. rewrite concat_app. simpl.
  set (A := D1); set (B := D2); set (X := concat L1); set (Y := concat L2).
  transitivity (c :: (A ++ B ++ X ++ l ++ Y)).
  { replace ((A ++ c :: B) ++ X ++ l ++ Y) with (A ++ c :: (B ++ X ++ l ++ Y))
      by (rewrite <- app_assoc; reflexivity).
    apply Permutation_sym, Permutation_middle. }
  apply perm_skip.
  transitivity (l ++ (A ++ B ++ X) ++ Y).
  { replace (A ++ B ++ X ++ l ++ Y) with ((A ++ B ++ X) ++ l ++ Y) by (rewrite <- !app_assoc; reflexivity).
    rewrite (app_assoc (A ++ B ++ X) l Y), (app_assoc l (A ++ B ++ X) Y).
    apply Permutation_app_tail, Permutation_app_comm. }
  apply Permutation_app_head.
  replace ((A ++ B ++ X) ++ Y) with (A ++ (B ++ X) ++ Y) by (rewrite <- !app_assoc; reflexivity).
  replace ((A ++ X) ++ B ++ Y) with (A ++ (X ++ B) ++ Y) by (rewrite <- !app_assoc; reflexivity).
  apply Permutation_app_head, Permutation_app_tail, Permutation_app_comm.
Qed.

Lemma footprint_in D1 c D2 L1 l L2 x :
  In x (footprint (D1 ++ c :: D2) (L1 ++ l :: L2)) <->
  In x (c :: l) \/ In x (footprint D1 L1 ++ footprint D2 L2).
Proof.
  split; intros I.
  - eapply Permutation_in in I; [|apply footprint_perm]. apply in_app_or in I; auto.
  - eapply Permutation_in; [apply Permutation_sym, footprint_perm|]. apply in_or_app; auto.
Qed.

Lemma footprint_nodup D1 c D2 L1 l L2 :
  NoDup (footprint (D1 ++ c :: D2) (L1 ++ l :: L2)) <->
  NoDup ((c :: l) ++ (footprint D1 L1 ++ footprint D2 L2)).
Proof.
  split; intros N; [eapply Permutation_NoDup; [apply footprint_perm|exact N] | eapply Permutation_NoDup; [apply Permutation_sym, footprint_perm|exact N]].
Qed.

Lemma dirv_frame_app h h' D1 L1 D2 L2 :
  dirv h D1 L1 -> dirv h D2 L2 ->
  (forall x, In x (footprint D1 L1 ++ footprint D2 L2) -> h' x = h x) ->
  dirv h' D1 L1 /\ dirv h' D2 L2 /\ contents h' L1 = contents h L1 /\ contents h' L2 = contents h L2.
Proof.
  intros A B E. unfold footprint in E. repeat split.
  - apply dirv_frame with h; auto. intros; apply E; apply in_or_app; auto.
  - apply dirv_frame with h; auto. intros; apply E; apply in_or_app; auto.
  - apply contents_frame. intros; apply E; apply in_or_app; left; apply in_or_app; auto.
  - apply contents_frame. intros; apply E; apply in_or_app; right; apply in_or_app; auto.
Qed.

(** The generic bucket edit. *)
Lemma edit_live (h h' : heap) f f' V (q : list (nat * nat)) rr X D1 c D2 L1 l L2 c1 l' :
  NoDup (footprint (D1 ++ c :: D2) (L1 ++ l :: L2)) ->
  (forall a, In a (footprint (D1 ++ c :: D2) (L1 ++ l :: L2)) ->
     a < f /\ (exists o, h a = Some o /\ over o <= V) /\ ~ In a (map snd q)) ->
  dirv h D1 L1 -> dirv h D2 L2 ->
  (forall a, In a (map snd q) -> a < f) ->
  (forall x, In x (footprint D1 L1 ++ footprint D2 L2) -> h' x = h x) ->
  (exists k', h' c1 = Some (OChunk k') /\ chain h' (head k') l') ->
  NoDup (c1 :: l') ->
  (forall x, In x X -> x < f /\ ~ In x (footprint (D1 ++ c :: D2) (L1 ++ l :: L2)) /\ ~ In x (map snd q)) ->
  (forall x, In x (c1 :: l') -> In x (c :: l) \/ In x X \/ f <= x < f') ->
  vbound h' V (c1 :: l') ->
  (forall x, In x rr -> (In x (c :: l) \/ In x X) /\ ~ In x (c1 :: l')) ->
  f <= f' ->
  dirv h' (D1 ++ c1 :: D2) (L1 ++ l' :: L2) /\
  NoDup (footprint (D1 ++ c1 :: D2) (L1 ++ l' :: L2)) /\
  (forall a, In a (footprint (D1 ++ c1 :: D2) (L1 ++ l' :: L2)) ->
     a < f' /\ (exists o, h' a = Some o /\ over o <= V) /\ ~ In a (map snd (q ++ tag V rr))) /\
  contents h' (L1 ++ l' :: L2) = contents h L1 ++ map (entry h') l' ++ contents h L2.
Proof.
  intros ND A DL1 DL2 Qf E [k' [Hc1 Cl']] ND' HX M Vb Rr Lf.
  destruct (dirv_frame_app h h' D1 L1 D2 L2 DL1 DL2 E) as [DL1' [DL2' [C1 C2]]].
  apply footprint_nodup in ND. apply NoDup_app_iff in ND as [NDo [NDr Dj]].
  assert (Rest : forall x, In x (footprint D1 L1 ++ footprint D2 L2) -> In x (footprint (D1 ++ c :: D2) (L1 ++ l :: L2)))
    by (intros x I; apply footprint_in; auto).
  assert (Old : forall x, In x (c :: l) -> In x (footprint (D1 ++ c :: D2) (L1 ++ l :: L2)))
    by (intros x I; apply footprint_in; auto).
  assert (Qtag : forall a, In a (map snd (q ++ tag V rr)) -> In a (map snd q) \/ In a rr).
  { intros a I. rewrite map_app in I. apply in_app_or in I as [I|I]; auto. right.
    unfold tag in I. rewrite map_map in I. simpl in I. rewrite map_id in I. auto. }
  split; [|split; [|split]].
  - apply dirv_app2; auto. econstructor; eauto.
  - apply footprint_nodup. apply NoDup_app_iff. repeat split; auto.
    intros x I J. destruct (M x I) as [I2|[I2|I2]].
    + apply (Dj x I2 J).
    + apply HX in I2 as [_ [I2 _]]. apply I2, Rest, J.
    + apply Rest in J. apply A in J. lia.
  - intros a I. apply footprint_in in I as [I|I].
    + split; [destruct (M a I) as [I2|[I2|I2]]; [apply Old, A in I2; lia | apply HX in I2; lia | lia]|].
      split; [apply Vb; auto|].
      intros J. apply Qtag in J as [J|J].
      * destruct (M a I) as [I2|[I2|I2]]; [apply Old, A in I2; tauto| apply HX in I2; tauto|].
        apply Qf in J; lia.
      * apply Rr in J as [_ J]; contradiction.
    + rewrite E; auto. destruct (A a (Rest a I)) as [La [Vo Nq]]. split; [lia|]. split; auto.
      intros J. apply Qtag in J as [J|J]; [contradiction|]. apply Rr in J as [[J|J] _].
      * apply (Dj a J I).
      * apply HX in J as [_ [J _]]. apply J, Rest, I.
  - rewrite !contents_app. rewrite C1. f_equal. unfold contents; simpl; fold (contents h' L2). rewrite C2. auto.
Qed.
