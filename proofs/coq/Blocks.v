(** * Blocks.v -- what the building blocks write: head_cell_for_write ([cfw]), privatize_prefix
    ([privatize]) and the link write ([relink]). Each writes only fresh objects or objects of version >= R
    ([keeps], I3), and yields a chain with the same entries whose nodes are private or fresh. *)

From Coq Require Import List Arith Lia Bool.
Import ListNotations.
From CowTable Require Import Model Ops Frame.

(** A chain segment: following [p] from [hd] ends at [tl]. *)
Inductive seg (h : heap) : option nat -> list nat -> option nat -> Prop :=
| seg_nil : forall tl, seg h tl [] tl
| seg_cons : forall a n p tl, h a = Some (ONode n) -> seg h (next n) p tl -> seg h (Some a) (a :: p) tl.

Lemma chain_split h hd p s : chain h hd (p ++ s) -> exists tl, seg h hd p tl /\ chain h tl s.
Proof.
  revert hd; induction p as [|a p IH]; simpl; intros hd C.
  - exists hd; split; auto; constructor.
  - inversion C; subst. destruct (IH _ H3) as [tl [S1 C1]]. exists tl; split; auto. econstructor; eauto.
Qed.

Lemma seg_chain h hd p tl s : seg h hd p tl -> chain h tl s -> chain h hd (p ++ s).
Proof. induction 1; simpl; auto. intros C; econstructor; eauto. Qed.

Lemma seg_frame h h' hd p tl : seg h hd p tl -> (forall a, In a p -> h' a = h a) -> seg h' hd p tl.
Proof.
  induction 1; intros E; [constructor|]. apply seg_cons with n.
  - rewrite E; simpl; auto.
  - apply IHseg; intros; apply E; simpl; auto.
Qed.

Lemma seg_nodes h hd p tl : seg h hd p tl -> forall a, In a p -> exists n, h a = Some (ONode n).
Proof. induction 1; simpl; intros x I; [contradiction|]. destruct I as [->|I]; eauto. Qed.

Lemma chain_nodes h hd l : chain h hd l -> forall a, In a l -> exists n, h a = Some (ONode n).
Proof. induction 1; simpl; intros x I; [contradiction|]. destruct I as [->|I]; eauto. Qed.

Ltac upd_tac := unfold upd, hfree in *; repeat match goal with
  | |- context [Nat.eqb ?x ?y] => destruct (Nat.eqb_spec x y); subst
  | H : context [Nat.eqb ?x ?y] |- _ => destruct (Nat.eqb_spec x y); subst
  end.

(** Version bound of the objects at a list of addresses. *)
Definition vbound (h : heap) (V : nat) (l : list nat) : Prop :=
  forall a, In a l -> exists o, h a = Some o /\ over o <= V.

(** ** privatize_prefix *)
Lemma privatize_ok R V h f p tl h' f' r hd :
  privatize R V h f p tl = (h', f', r, hd) ->
  R <= V ->
  (forall x, f <= x -> h x = None) ->
  (forall a, In a p -> a < f /\ exists n, h a = Some (ONode n) /\ nver n <= V) ->
  NoDup p ->
  f <= f' /\
  (forall x, x < f -> ~ In x p -> h' x = h x) /\
  (forall x, f' <= x -> h' x = None) /\
  keeps R h h' /\
  exists p', seg h' hd p' tl /\ map (entry h') p' = map (entry h) p /\ NoDup p' /\
    (forall x, In x p' -> (In x p /\ ~ In x r) \/ (f <= x < f')) /\
    (forall x, In x r -> In x p /\ ~ In x p' /\ h' x = h x) /\
    vbound h' V p'.
Proof.
  revert h' f' r hd. induction p as [|a p IH]; intros h' f' r hd E RV Hf Hp ND.
  - simpl in E. inversion E; subst. repeat split; auto using keeps_refl; try tauto.
    exists []; repeat split; simpl; try tauto; auto; try constructor.
    intros x [].
  - simpl in E. destruct (privatize R V h f p tl) as [[[h1 f1] r1] tl1] eqn:P.
    inversion ND as [|? ? NIa NDp]; subst.
    destruct (IH h1 f1 r1 tl1 eq_refl RV Hf (fun x I => Hp x (or_intror I)) NDp)
      as [Lf [F2 [F3 [K [p1 [S1 [En [ND1 [M1 [Mr Vb]]]]]]]]]].
    destruct (Hp a (or_introl eq_refl)) as [Ha [n [Hn Vn]]].
    assert (Hp' : forall x, In x p -> x < f) by (intros x I; apply (Hp x (or_intror I))).
    assert (H1a : h1 a = Some (ONode n)) by (rewrite F2; auto).
    assert (Ap1 : ~ In a p1).
    { intros I. destruct (M1 a I) as [[I2 _]|I2]; [contradiction|lia]. }
    rewrite H1a in E. destruct (shared R (nver n)) eqn:Sh; inversion E; subst; clear E.
    + (* shared: copy at f1, retire a *)
      assert (F1p1 : ~ In f1 p1).
      { intros I. destruct (M1 f1 I) as [[I2 _]|I2]; [apply Hp' in I2; lia | lia]. }
      assert (H1f1 : h1 f1 = None) by (apply F3; lia).
      split; [lia|]. split; [|split; [|split]].
      * intros x Lx Nx. upd_tac; [lia|]. apply F2; auto. intros I; apply Nx; simpl; auto.
      * intros x Lx. upd_tac; [lia|]. apply F3; lia.
      * apply keeps_trans with h1; auto. apply keeps_upd. intros o Ho; congruence.
      * exists (f1 :: p1). split; [|split; [|split; [|split; [|split]]]].
        -- apply seg_cons with (mkN (key n) (val n) tl1 V). upd_tac; auto; lia.
           simpl. apply seg_frame with h1; auto. intros x I. upd_tac; auto. contradiction.
        -- simpl. f_equal.
           ++ unfold entry. upd_tac; [|lia]. rewrite Hn. auto.
           ++ rewrite <- En. apply entries_frame. intros x I. upd_tac; auto. contradiction.
        -- constructor; auto.
        -- intros x [<-|I]; [right; lia|]. destruct (M1 x I) as [[I2 N2]|I2]; [left|right; lia].
           split; [simpl; auto|]. intros [<-|I3]; [contradiction|contradiction].
        -- intros x [<-|I].
           ++ split; [simpl; auto|]. split.
              ** intros [E2|I2]; [lia|contradiction].
              ** upd_tac; [lia|]. rewrite F2; auto.
           ++ destruct (Mr x I) as [I2 [N2 E2]]. split; [simpl; auto|]. split.
              ** intros [E3|I3]; [subst; apply Hp' in I2; lia|contradiction].
              ** upd_tac; [apply Hp' in I2; lia|]. exact E2.
        -- intros x [<-|I].
           ++ exists (ONode (mkN (key n) (val n) tl1 V)). upd_tac; [|lia]. simpl; auto.
           ++ destruct (Vb x I) as [o [Ho Lo]]. exists o. upd_tac; [contradiction|auto].
    + (* private: written in place *)
      split; [lia|]. split; [|split; [|split]].
      * intros x Lx Nx. upd_tac; [exfalso; apply Nx; simpl; auto|]. apply F2; auto.
        intros I; apply Nx; simpl; auto.
      * intros x Lx. upd_tac; [lia|]. apply F3; lia.
      * apply keeps_trans with h1; auto. apply keeps_upd. intros o Ho. rewrite H1a in Ho.
        inversion Ho; subst. simpl. unfold shared in Sh. apply Nat.ltb_ge in Sh. lia.
      * exists (a :: p1). split; [|split; [|split; [|split; [|split]]]].
        -- apply seg_cons with (mkN (key n) (val n) tl1 (nver n)). upd_tac; auto; try congruence.
           simpl. apply seg_frame with h1; auto. intros x I. upd_tac; auto. contradiction.
        -- simpl. f_equal.
           ++ unfold entry. upd_tac; [|contradiction]. rewrite Hn. auto.
           ++ rewrite <- En. apply entries_frame. intros x I. upd_tac; auto. contradiction.
        -- constructor; auto.
        -- intros x [<-|I].
           ++ left. split; [simpl; auto|]. intros I. apply Mr in I as [I _]. contradiction.
           ++ destruct (M1 x I) as [[I2 N2]|I2]; [left|right; lia]. split; [simpl; auto|auto].
        -- intros x I. destruct (Mr x I) as [I2 [N2 E2]]. split; [simpl; auto|]. split.
           ++ intros [E3|I3]; [subst; contradiction|contradiction].
           ++ upd_tac; [contradiction|]. exact E2.
        -- intros x [<-|I].
           ++ exists (ONode (mkN (key n) (val n) tl1 (nver n))). upd_tac; [|contradiction]. simpl; auto.
           ++ destruct (Vb x I) as [o [Ho Lo]]. exists o. upd_tac; [contradiction|auto].
Qed.
