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
    vbound h' V p' /\ NoDup r /\
    (forall x, f <= x < f' -> In x p') /\ (forall x, In x p -> In x p' \/ In x r).
Proof.
  revert h' f' r hd. induction p as [|a p IH]; intros h' f' r hd E RV Hf Hp ND.
  - simpl in E. inversion E; subst. split; [lia|]. split; [auto|]. split; [auto|]. split; [apply keeps_refl|].
    exists []. split; [constructor|]. split; [auto|]. split; [constructor|]. split; [intros x []|].
    split; [intros x []|]. split; [intros x []|]. split; [constructor|]. split; [intros x L; lia|intros x []].
  - simpl in E. destruct (privatize R V h f p tl) as [[[h1 f1] r1] tl1] eqn:P.
    inversion ND as [|? ? NIa NDp]; subst.
    destruct (IH h1 f1 r1 tl1 eq_refl RV Hf (fun x I => Hp x (or_intror I)) NDp)
      as [Lf [F2 [F3 [K [p1 [S1 [En [ND1 [M1 [Mr [Vb [NDr [Fp1 Fq1]]]]]]]]]]]]].
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
        -- split.
           ++ intros x [<-|I].
              ** exists (ONode (mkN (key n) (val n) tl1 V)). upd_tac; [|lia]. simpl; auto.
              ** destruct (Vb x I) as [o [Ho Lo]]. exists o. upd_tac; [contradiction|auto].
           ++ split; [constructor; auto; intros I; apply Mr in I as [I _]; contradiction|]. split.
              ** intros x Lx. destruct (Nat.eq_dec x f1) as [->|Ne]; [left; auto|right; apply Fp1; lia].
              ** intros x [<-|I]; [right; left; auto|]. destruct (Fq1 x I); [left; right|right; right]; auto.
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
        -- split; [|split; [auto|split]].
           2: { intros x Lx. right. apply Fp1. lia. }
           2: { intros x [<-|I]; [left; left; auto|]. destruct (Fq1 x I); [left; right|right]; auto. }
           intros x [<-|I].
           ++ exists (ONode (mkN (key n) (val n) tl1 (nver n))). upd_tac; [|contradiction]. simpl; auto.
           ++ destruct (Vb x I) as [o [Ho Lo]]. exists o. upd_tac; [contradiction|auto].
Qed.

(** ** head_cell_for_write *)
Lemma cfw_ok R V h f c h1 f1 r1 c1 k :
  cfw R V h f c = (h1, f1, r1, c1) -> R <= V -> (forall x, f <= x -> h x = None) ->
  h c = Some (OChunk k) -> cver k <= V ->
  f <= f1 /\ (forall x, x < f -> h1 x = h x) /\ (forall x, f1 <= x -> h1 x = None) /\ keeps R h h1 /\
  exists cv, h1 c1 = Some (OChunk (mkC (head k) cv)) /\ R <= cv <= V /\
    ((c1 = c /\ r1 = [] /\ f1 = f) \/ (c1 = f /\ f1 = S f /\ r1 = [c])).
Proof.
  intros E RV Hf Hc Vk. unfold cfw in E. rewrite Hc in E.
  destruct (shared R (cver k)) eqn:Sh; inversion E; subst h1 f1 r1 c1; clear E.
  - assert (Hff : h f = None) by (apply Hf; lia).
    split; [lia|]. split; [|split; [|split]].
    + intros x L. upd_tac; [lia|auto].
    + intros x L. upd_tac; [lia|apply Hf; lia].
    + apply keeps_upd. intros o Ho; congruence.
    + exists V. split; [upd_tac; auto; congruence|]. split; [lia|]. right; auto.
  - unfold shared in Sh. apply Nat.ltb_ge in Sh.
    split; [lia|]. split; [auto|]. split; [auto|]. split; [apply keeps_refl|].
    exists (cver k). destruct k; simpl in *. split; [auto|]. split; [lia|]. left; auto.
Qed.

(** ** privatize_prefix followed by the write of the link *)
Lemma relink_ok R V h f c p tl h2 f2 r c1 k :
  relink R V h f c p tl = (h2, f2, r, c1) -> R <= V -> (forall x, f <= x -> h x = None) ->
  h c = Some (OChunk k) -> cver k <= V -> c < f -> ~ In c p ->
  (forall a, In a p -> a < f /\ exists n, h a = Some (ONode n) /\ nver n <= V) -> NoDup p ->
  f <= f2 /\ (forall x, x < f -> x <> c -> ~ In x p -> h2 x = h x) /\ (forall x, f2 <= x -> h2 x = None) /\
  keeps R h h2 /\
  exists p' k', h2 c1 = Some (OChunk k') /\ R <= cver k' <= V /\ seg h2 (head k') p' tl /\
    map (entry h2) p' = map (entry h) p /\ NoDup (c1 :: p') /\
    (forall x, In x (c1 :: p') -> (In x (c :: p) /\ ~ In x r) \/ (f <= x < f2)) /\
    (forall x, In x r -> In x (c :: p) /\ ~ In x (c1 :: p') /\ h2 x = h x) /\
    vbound h2 V p' /\ NoDup r /\
    (forall x, f <= x < f2 -> In x (c1 :: p')) /\ (forall x, In x (c :: p) -> In x (c1 :: p') \/ In x r).
Proof.
  intros E RV Hf Hc Vk Lc Ncp Hp NDp. unfold relink in E.
  destruct (cfw R V h f c) as [[[h1 f1] r1] c1'] eqn:Ec.
  destruct (privatize R V h1 f1 p tl) as [[[h2' f2'] r2] hd] eqn:Ep.
  inversion E; subst; clear E.
  destruct (cfw_ok _ _ _ _ _ _ _ _ _ _ Ec RV Hf Hc Vk) as [L1 [F1 [G1 [K1 [cv [Hc1 [Rcv Cs]]]]]]].
  assert (Hp1 : forall a, In a p -> a < f1 /\ exists n, h1 a = Some (ONode n) /\ nver n <= V).
  { intros a I. destruct (Hp a I) as [La [n [Hn Vn]]]. split; [lia|]. exists n. rewrite F1; auto. }
  destruct (privatize_ok _ _ _ _ _ _ _ _ _ _ Ep RV G1 Hp1 NDp)
    as [L2 [F2 [G2 [K2 [p' [S' [En [ND' [M' [Mr [Vb [NDr [Fp Fq]]]]]]]]]]]]].
  assert (C1lt : c1 < f1) by (destruct Cs as [[-> [-> ->]]|[-> [-> ->]]]; lia).
  assert (C1p : ~ In c1 p) by (destruct Cs as [[-> _]|[-> _]]; auto; intros I; apply Hp in I; lia).
  assert (C1p' : ~ In c1 p').
  { intros I. destruct (M' c1 I) as [[I2 _]|I2]; [contradiction|lia]. }
  assert (H2c1 : h2' c1 = Some (OChunk (mkC (head k) cv))) by (rewrite F2; auto).
  unfold set_head. rewrite H2c1.
  split; [lia|]. split; [|split; [|split]].
  - intros x Lx Nc Np. upd_tac.
    + destruct Cs as [[E1 _]|[E1 _]]; [congruence|lia].
    + rewrite F2; [apply F1; auto | lia | auto].
  - intros x Lx. upd_tac; [lia|auto].
  - apply keeps_trans with h1; auto. apply keeps_trans with h2'; auto.
    apply keeps_upd. intros o Ho. rewrite H2c1 in Ho. inversion Ho; subst; simpl; lia.
  - exists p', (mkC hd cv). split; [upd_tac; auto; congruence|]. simpl. split; [lia|].
    split; [|split; [|split; [|split; [|split]]]].
    + apply seg_frame with h2'; auto. intros x I. upd_tac; auto. contradiction.
    + transitivity (map (entry h2') p').
      * apply entries_frame. intros x I. upd_tac; auto. contradiction.
      * rewrite En. apply entries_frame. intros x I. apply F1. apply Hp; auto.
    + constructor; auto.
    + intros x [<-|I].
      * destruct Cs as [[-> [-> ->]]|[-> [-> ->]]].
        -- left. split; [simpl; auto|]. simpl. intros I.
           apply Mr in I as [I _]; contradiction.
        -- right; lia.
      * destruct (M' x I) as [[I2 N2]|I2].
        -- left. split; [simpl; auto|]. intros I3. apply in_app_or in I3 as [I3|I3]; [|contradiction].
           destruct Cs as [[-> [-> ->]]|[-> [-> ->]]]; [destruct I3|]. destruct I3 as [<-|[]].
           first [contradiction | apply Hp in I2; lia].
        -- right; lia.
    + intros x I. apply in_app_or in I as [I|I].
      * destruct Cs as [[-> [-> ->]]|[-> [-> ->]]]; [destruct I|]. destruct I as [<-|[]].
        split; [simpl; auto|]. split.
        -- intros [E2|I2]; [lia|]. destruct (M' c I2) as [[I3 _]|I3]; [contradiction|lia].
        -- upd_tac; [lia|]. rewrite F2; [apply F1; auto | lia | auto].
      * destruct (Mr x I) as [I2 [N2 E2]]. split; [simpl; auto|]. split.
        -- intros [E3|I3]; [subst; contradiction|contradiction].
        -- upd_tac; [contradiction|]. rewrite E2. apply F1. apply Hp; auto.
    + split; [|split; [|split]].
      * intros x I. destruct (Vb x I) as [o [Ho Lo]]. exists o. upd_tac; [contradiction|auto].
      * destruct Cs as [[-> [-> ->]]|[-> [-> ->]]]; simpl; auto. constructor; auto.
        intros I. apply Mr in I as [I _]. contradiction.
      * intros x Lx. destruct Cs as [[E1 [E2 E3]]|[E1 [E2 E3]]]; subst c1 f1 r1.
        -- right. apply Fp. lia.
        -- destruct (Nat.eq_dec x f) as [->|Ne]; [left; auto|right; apply Fp; lia].
      * intros x [<-|I].
        -- destruct Cs as [[E1 [E2 E3]]|[E1 [E2 E3]]]; subst c1 f1 r1; [left; left; auto|right; left; auto].
        -- destruct (Fq x I) as [J|J]; [left; right; auto|right; apply in_or_app; right; auto].
Qed.
