(** * Preserve.v -- every operation preserves the invariant [inv]: copy-on-write isolation of every live
    snapshot (a), the live view equals the functional map (b), and the structural invariants (c). *)

From Coq Require Import List Arith Lia Bool Permutation.
Import ListNotations.
From CowTable Require Import Model Ops Frame Blocks Live.

(** [R] never exceeds [V] (R is the version of a live, or recently released, snapshot, I1). *)
Definition bounds_ok (st : state) (R O : nat) : Prop := cow_ok st R O /\ R <= ver st.

(** ** Facts about [with_slot] *)

Lemma with_slot_fields st w d h f q m :
  hp (with_slot st w d h f q m) = h /\ fresh (with_slot st w d h f q m) = f /\
  retq (with_slot st w d h f q m) = q /\ amap (with_slot st w d h f q m) = m /\
  ver (with_slot st w d h f q m) = ver st /\ snaps (with_slot st w d h f q m) = snaps st.
Proof. destruct w; repeat split; reflexivity. Qed.

Lemma slot_live st w d1 c d2 :
  slot st w d1 c d2 ->
  exists D1 D2, live_dirs st = D1 ++ c :: D2 /\
    (forall c' h f q m, live_dirs (with_slot st w (d1 ++ c' :: d2) h f q m) = D1 ++ c' :: D2) /\
    (w = false -> D1 = d1) /\ (w = true -> length (prim st) <= length D1).
Proof.
  unfold slot, live_dirs, newdir, with_slot. destruct w.
  - intros [rh E]. rewrite E. exists (prim st ++ d1), d2. simpl.
    split; [rewrite <- app_assoc; reflexivity|].
    split; [intros; rewrite <- app_assoc; reflexivity|].
    split; [discriminate|]. intros _. rewrite app_length; lia.
  - intros E. rewrite E. exists d1, (d2 ++ match reh st with Some (nd, _) => nd | None => [] end). simpl.
    split; [rewrite <- app_assoc; reflexivity|].
    split; [intros; rewrite <- app_assoc; reflexivity|].
    split; [auto|discriminate].
Qed.

Lemma slot_rehash st w d1 c d2 c' h f q m nd' rh :
  slot st w d1 c d2 -> reh (with_slot st w (d1 ++ c' :: d2) h f q m) = Some (nd', rh) ->
  exists nd, reh st = Some (nd, rh).
Proof.
  unfold slot, with_slot. destruct w; simpl.
  - intros [rh0 E]. rewrite E. intros Q; inversion Q; subst; eauto.
  - intros _ E; eauto.
Qed.

Lemma slot_prim_len st w d1 c d2 c' h f q m :
  slot st w d1 c d2 -> length (prim (with_slot st w (d1 ++ c' :: d2) h f q m)) = length (prim st).
Proof.
  unfold slot, with_slot. destruct w; simpl; auto. intros ->. rewrite !app_length; simpl; lia.
Qed.

Lemma nth_app_ne {A} (L1 L2 : list A) x y d i : i < length L1 -> nth i (L1 ++ x :: L2) d = nth i (L1 ++ y :: L2) d.
Proof. intros L. rewrite !app_nth1; auto. Qed.

(** rehash_ok survives an edit of bucket [length L1] when that bucket is at or after rh. *)
Lemma rehash_ok_edit st st' L1 l l' L2 :
  rehash_ok st (L1 ++ l :: L2) ->
  (forall nd' rh, reh st' = Some (nd', rh) -> exists nd, reh st = Some (nd, rh)) ->
  length (prim st') = length (prim st) ->
  (forall nd rh, reh st = Some (nd, rh) -> rh <= length L1) ->
  rehash_ok st' (L1 ++ l' :: L2).
Proof.
  intros H E Lp B nd' rh R'. destruct (E _ _ R') as [nd Rs]. destruct (H _ _ Rs) as [L N].
  split; [lia|]. intros i Li. specialize (B _ _ Rs). rewrite (nth_app_ne L1 L2 l' l); [apply N; auto|lia].
Qed.

Lemma rh_bound st ls L1 l L2 w d1 c d2 D1 :
  rehash_ok st ls -> ls = L1 ++ l :: L2 -> length L1 = length D1 ->
  slot st w d1 c d2 -> (w = false -> D1 = d1) -> (w = true -> length (prim st) <= length D1) ->
  (w = false -> forall nd rh, reh st = Some (nd, rh) -> rh <= length d1) ->
  forall nd rh, reh st = Some (nd, rh) -> rh <= length L1.
Proof.
  intros H -> L S F T W nd rh E. destruct (H _ _ E) as [Lr _]. destruct w.
  - specialize (T eq_refl). lia.
  - rewrite L, (F eq_refl). apply (W eq_refl _ _ E).
Qed.

(** A non-empty bucket is at or after rh. *)
Lemma nonempty_after_rh st ls L1 l L2 nd rh :
  rehash_ok st ls -> ls = L1 ++ l :: L2 -> l <> [] -> reh st = Some (nd, rh) -> rh <= length L1.
Proof.
  intros H -> N E. destruct (H _ _ E) as [_ Z]. destruct (le_lt_dec rh (length L1)) as [|Lt]; auto.
  exfalso. apply N. specialize (Z _ Lt). rewrite app_nth2 in Z; auto. rewrite Nat.sub_diag in Z. auto.
Qed.

(** ** map_ok under the three kinds of change *)

Lemma map_ok_replace m A B k v0 v :
  map_ok m (A ++ (k, v0) :: B) -> map_ok (setk m k (Some v)) (A ++ (k, v) :: B).
Proof.
  intros [N E]. split. { rewrite map_app in *; simpl in *; auto. }
  rewrite map_app in N; simpl in N. apply NoDup_remove_2 in N as Nk.
  intros k' v'. unfold setk. destruct (Nat.eqb_spec k' k) as [->|Ne].
  - split.
    + intros I. apply in_app_or in I as [I|[I|I]].
      * exfalso; apply Nk; apply in_or_app; left; apply in_map_iff; exists (k, v'); auto.
      * inversion I; auto.
      * exfalso; apply Nk; apply in_or_app; right; apply in_map_iff; exists (k, v'); auto.
    + intros Q; inversion Q; subst. apply in_or_app; right; left; auto.
  - rewrite <- E. split; intros I; apply in_app_or in I as [I|[I|I]];
      try (apply in_or_app; auto; fail); try (inversion I; congruence);
      apply in_or_app; right; right; auto.
Qed.

Lemma map_ok_remove m A B k v0 :
  map_ok m (A ++ (k, v0) :: B) -> map_ok (setk m k None) (A ++ B).
Proof.
  intros [N E]. rewrite map_app in N; simpl in N. split.
  { rewrite map_app. eapply NoDup_remove_1; eauto. }
  apply NoDup_remove_2 in N as Nk.
  intros k' v'. unfold setk. destruct (Nat.eqb_spec k' k) as [->|Ne].
  - split; [|discriminate]. intros I. exfalso. apply Nk. rewrite <- map_app. apply in_map_iff.
    exists (k, v'); auto.
  - rewrite <- E. split; intros I.
    + apply in_app_or in I as [I|I]; apply in_or_app; simpl; auto.
    + apply in_app_or in I as [I|[I|I]]; apply in_or_app; auto. inversion I; congruence.
Qed.

Lemma map_ok_insert m A B k v :
  map_ok m (A ++ B) -> m k = None -> map_ok (setk m k (Some v)) (A ++ (k, v) :: B).
Proof.
  intros [N E] Mk. assert (Nk : ~ In k (map fst (A ++ B))).
  { intros I. apply in_map_iff in I as [[k' v'] [Ek I]]. simpl in Ek; subst. apply E in I. congruence. }
  split.
  - rewrite map_app. simpl. eapply Permutation_NoDup; [apply Permutation_middle|].
    constructor; rewrite <- map_app; auto.
  - intros k' v'. unfold setk. destruct (Nat.eqb_spec k' k) as [->|Ne].
    + split.
      * intros I. apply in_app_or in I as [I|[I|I]]; [| inversion I; auto |];
          exfalso; apply Nk; apply in_map_iff; exists (k, v'); split; auto; apply in_or_app; auto.
      * intros Q; inversion Q; subst; apply in_or_app; right; left; auto.
    + rewrite <- E. split; intros I.
      * apply in_app_or in I as [I|[I|I]]; apply in_or_app; auto. inversion I; congruence.
      * apply in_app_or in I as [I|I]; apply in_or_app; simpl; auto.
Qed.

Lemma map_ok_perm m kv kv' : Permutation kv kv' -> map_ok m kv -> map_ok m kv'.
Proof.
  intros P [N E]. split.
  - eapply Permutation_NoDup; [apply Permutation_map|]; eauto.
  - intros k v. rewrite <- E. split; apply Permutation_in; auto. apply Permutation_sym; auto.
Qed.

(** ** The generic bucket edit, at the level of states *)

Lemma in_tag (V : nat) (rr : list nat) (e a : nat) : In (e, a) (tag V rr) -> e = V /\ In a rr.
Proof. unfold tag. intros I. apply in_map_iff in I as [x [Ex I]]. inversion Ex; subst; auto. Qed.

Lemma retq_addr (q : list (nat * nat)) (e a : nat) : In (e, a) q -> In a (map snd q).
Proof. intros I. apply in_map_iff. exists (e, a); auto. Qed.

Lemma bucket_step R O st st' D1 c D2 L1 l L2 h' f' rr c1 l' :
  bounds_ok st R O -> inv st -> live_ok st (L1 ++ l :: L2) ->
  live_dirs st = D1 ++ c :: D2 -> dirv (hp st) D1 L1 -> dirv (hp st) D2 L2 ->
  hp st' = h' -> fresh st' = f' -> retq st' = retq st ++ tag (ver st) rr -> ver st' = ver st ->
  snaps st' = snaps st -> live_dirs st' = D1 ++ c1 :: D2 ->
  keeps R (hp st) h' -> fresh st <= f' -> (forall x, f' <= x -> h' x = None) ->
  (forall x, x < fresh st -> ~ In x (c :: l) -> h' x = hp st x) ->
  (exists k', h' c1 = Some (OChunk k') /\ chain h' (head k') l') ->
  NoDup (c1 :: l') ->
  (forall x, In x (c1 :: l') -> In x (c :: l) \/ fresh st <= x < f') ->
  vbound h' (ver st) (c1 :: l') ->
  (forall x, In x rr -> In x (c :: l) /\ ~ In x (c1 :: l')) ->
  NoDup rr -> (forall x, In x rr -> h' x <> None) ->
  (forall x, fresh st <= x < f' -> In x (c1 :: l')) ->
  (forall x, In x (c :: l) -> h' x <> None -> In x (c1 :: l') \/ In x rr) ->
  map_ok (amap st') (contents (hp st) L1 ++ map (entry h') l' ++ contents (hp st) L2) ->
  rehash_ok st' (L1 ++ l' :: L2) ->
  inv st'.
Proof.
  intros [C RV] I [LD [ND [LA [MO RO]]]] Ld DL1 DL2 Eh Ef Eq Ev Es Ld' K Lf Fz Fr Ch ND' M Vb Rr NDrr Arr NL Acc MO' RO'.
  rewrite Ld in ND, LA.
  assert (Qf : forall a, In a (map snd (retq st)) -> a < fresh st).
  { intros a J. apply in_map_iff in J as [[e a'] [Ea J]]. simpl in Ea; subst a'. apply (inv_retq st I) in J. lia. }
  assert (Rest : forall x, In x (footprint D1 L1 ++ footprint D2 L2) -> hp st' x = hp st x).
  { intros x J. rewrite Eh. assert (J' : In x (footprint (D1 ++ c :: D2) (L1 ++ l :: L2)))
      by (apply footprint_in; auto).
    apply Fr; [apply LA in J'; lia|]. intros J2.
    apply footprint_nodup in ND. apply NoDup_app_iff in ND as [_ [_ Dj]]. apply (Dj x J2 J). }
  assert (Rest' : forall x, In x (footprint D1 L1 ++ footprint D2 L2) -> h' x = hp st x)
    by (intros x J; rewrite <- Eh; apply Rest; auto).
  assert (NX : forall x, In x (@nil nat) -> x < fresh st /\ ~ In x (footprint (D1 ++ c :: D2) (L1 ++ l :: L2))
                                         /\ ~ In x (map snd (retq st))) by (intros x []).
  assert (M' : forall x, In x (c1 :: l') -> In x (c :: l) \/ In x [] \/ fresh st <= x < f')
    by (intros x J; destruct (M x J); auto).
  assert (Rr' : forall x, In x rr -> (In x (c :: l) \/ In x []) /\ ~ In x (c1 :: l'))
    by (intros x J; destruct (Rr x J); auto).
  destruct (edit_live (hp st) h' (fresh st) f' (ver st) (retq st) rr [] D1 c D2 L1 l L2 c1 l'
              ND LA DL1 DL2 Qf Rest' Ch ND' NX M' Vb Rr' Lf) as [D' [ND'' [LA' Ct]]].
  constructor.
  - rewrite Ef, Eh; auto.
  - exists (L1 ++ l' :: L2). unfold live_ok. rewrite Ld', Eh, Ef, Eq, Ev.
    split; [exact D'|]. split; [exact ND''|]. split; [exact LA'|]. split; [rewrite Ct; exact MO'|]. exact RO'.
  - intros e a J. rewrite Eq in J. rewrite Ev, Ef, Eh. apply in_app_or in J as [J|J].
    + destruct (inv_retq st I e a J) as [Le [La Na]]. split; [lia|]. split; [lia|].
      rewrite Fr; auto. intros J2.
      assert (J3 : In a (footprint (D1 ++ c :: D2) (L1 ++ l :: L2))) by (apply footprint_in; auto).
      apply LA in J3 as [_ [_ N]]. apply N. apply (retq_addr _ e a J).
    + apply in_tag in J as [-> J]. assert (J' := J). apply Rr in J' as [J' _]. split; [lia|].
      assert (J3 : In a (footprint (D1 ++ c :: D2) (L1 ++ l :: L2))) by (apply footprint_in; auto).
      apply LA in J3. split; [lia|]. apply Arr; auto.
  - rewrite Eq, map_app. unfold tag. rewrite map_map. simpl. rewrite map_id.
    apply NoDup_app_iff. split; [apply (inv_retq_nodup st I)|]. split; [auto|].
    intros x J K0. apply Rr in K0 as [K0 _].
    assert (J3 : In x (footprint (D1 ++ c :: D2) (L1 ++ l :: L2))) by (apply footprint_in; auto).
    apply LA in J3 as [_ [_ N]]. contradiction.
  - intros s J. rewrite Es in J. apply isolation with R O st; auto.
    + apply (inv_snaps st I); auto.
    + apply frame_of_keeps with rr; rewrite ?Eh; auto.
    + lia.
  - intros ls' a D2' Ha. rewrite Ld' in D2' |- *. rewrite Eh in D2', Ha.
    pose proof (dirv_det _ _ _ _ D2' D') as ->. rewrite Eq.
    destruct (le_lt_dec (fresh st) a) as [La|La].
    + destruct (le_lt_dec f' a) as [Lb|Lb]; [exfalso; apply Ha, Fz; auto|].
      left. apply footprint_in. left. apply NL; lia.
    + destruct (in_dec Nat.eq_dec a (c :: l)) as [J|J].
      * destruct (Acc a J Ha) as [K0|K0]; [left; apply footprint_in; auto|].
        right. rewrite map_app. apply in_or_app. right. unfold tag. rewrite map_map. simpl. rewrite map_id. auto.
      * rewrite Fr in Ha; auto.
        destruct (inv_owned st I (L1 ++ l :: L2) a LD Ha) as [K0|K0].
        -- left. rewrite Ld in K0. apply footprint_in in K0 as [K0|K0]; [contradiction|]. apply footprint_in; auto.
        -- right. rewrite map_app. apply in_or_app. left. auto.
Qed.

(** ** What an operation on a bucket may assume *)

Lemma slot_prelude st w d1 c d2 kc l0 :
  inv st -> slot st w d1 c d2 -> hp st c = Some (OChunk kc) -> chain (hp st) (head kc) l0 ->
  exists D1 D2 L1 L2, live_ok st (L1 ++ l0 :: L2) /\ live_dirs st = D1 ++ c :: D2 /\
    dirv (hp st) D1 L1 /\ dirv (hp st) D2 L2 /\ length L1 = length D1 /\
    (forall c' h f q m, live_dirs (with_slot st w (d1 ++ c' :: d2) h f q m) = D1 ++ c' :: D2) /\
    (w = false -> D1 = d1) /\ (w = true -> length (prim st) <= length D1) /\
    c < fresh st /\ cver kc <= ver st /\ ~ In c l0 /\ NoDup l0 /\
    (forall a, In a l0 -> a < fresh st /\ exists n, hp st a = Some (ONode n) /\ nver n <= ver st) /\
    (forall a, In a (c :: l0) -> ~ In a (map snd (retq st))).
Proof.
  intros I S Hc Cl. destruct (inv_live st I) as [ls LO].
  destruct (slot_live st w d1 c d2 S) as [D1 [D2 [Ld [Ld' [F T]]]]].
  pose proof LO as [LD [ND [LA _]]]. rewrite Ld in LD, ND, LA.
  destruct (dirv_split _ _ _ _ _ LD) as [L1 [l [L2 [k [El [DL1 [Hk [Ck [DL2 Len]]]]]]]]].
  rewrite Hc in Hk. inversion Hk; subst k. pose proof (chain_det _ _ _ _ Cl Ck) as <-. subst ls.
  apply footprint_nodup in ND as ND2. apply NoDup_app_iff in ND2 as [NDc _].
  inversion NDc as [|? ? Ncl NDl]; subst.
  assert (InF : forall a, In a (c :: l0) -> In a (footprint (D1 ++ c :: D2) (L1 ++ l0 :: L2)))
    by (intros a J; apply footprint_in; auto).
  exists D1, D2, L1, L2.
  do 8 (split; [assumption|]).
  split; [apply LA, InF; simpl; auto|].
  split; [|split; [auto|split; [auto|split]]].
  - destruct (LA c (InF c (or_introl eq_refl))) as [_ [[o [Ho Lo]] _]]. rewrite Hc in Ho.
    inversion Ho; subst; auto.
  - intros a J. destruct (LA a (InF a (or_intror J))) as [_ [[o [Ho Lo]] _]].
    destruct (chain_nodes _ _ _ Cl a J) as [n Hn]. rewrite Hn in Ho. inversion Ho; subst.
    split; [apply LA, InF; simpl; auto|]. eauto.
  - intros a J. apply LA, InF; auto.
Qed.

Lemma upd_fresh_keeps R h f o : h f = None -> keeps R h (upd h f o).
Proof. intros N. apply keeps_upd. intros o' E; congruence. Qed.

Lemma entries_map h l : map (entry h) l = map (entry h) l.
Proof. reflexivity. Qed.

(** ** put / transform of an absent key *)
Lemma put_insert_inv R O st w d1 c d2 kc k v h2 f2 r c1 :
  bounds_ok st R O -> inv st ->
  slot st w d1 c d2 -> insert_ok st w d1 -> amap st k = None -> hp st c = Some (OChunk kc) ->
  relink R (ver st) (upd (hp st) (fresh st) (ONode (mkN k v (head kc) (ver st)))) (S (fresh st)) c []
    (Some (fresh st)) = (h2, f2, r, c1) ->
  inv (with_slot st w (d1 ++ c1 :: d2) h2 f2 (retq st ++ tag (ver st) r) (setk (amap st) k (Some v))).
Proof.
  intros B I Sl W Mk Hc E. pose proof B as [C RV].
  destruct (inv_live st I) as [ls0 [LD0 _]].
  destruct (slot_live st w d1 c d2 Sl) as [D1' [D2' [Ld0 _]]]. rewrite Ld0 in LD0.
  destruct (dirv_split _ _ _ _ _ LD0) as [_ [l0 [_ [k0 [_ [_ [Hk0 [Cl0 _]]]]]]]].
  rewrite Hc in Hk0. inversion Hk0; subst k0.
  destruct (slot_prelude st w d1 c d2 kc l0 I Sl Hc Cl0)
    as [D1 [D2 [L1 [L2 [LO [Ld [DL1 [DL2 [Len [Ld' [F [T [Lc [Vc [Ncl [NDl [Hl Nq]]]]]]]]]]]]]]]]].
  set (f := fresh st) in *. set (h := hp st) in *. set (V := ver st) in *.
  set (h1 := upd h f (ONode (mkN k v (head kc) V))) in *.
  assert (Hf : forall x, f <= x -> h x = None) by (apply (inv_fresh st I)).
  assert (Hf1 : forall x, S f <= x -> h1 x = None) by (intros x Lx; unfold h1; upd_tac; [lia|apply Hf; lia]).
  assert (H1c : h1 c = Some (OChunk kc)) by (unfold h1; upd_tac; [lia|auto]).
  destruct (relink_ok R V h1 (S f) c [] (Some f) h2 f2 r c1 kc E RV Hf1 H1c Vc ltac:(lia) (fun J => J)
              (fun a J => match J with end) (NoDup_nil _))
    as [L2f [Fr2 [Fz2 [K2 [p' [k' [Hc1 [Vk' [Sg [En [ND' [M' [Mr [Vb [NDr [Fp Fq]]]]]]]]]]]]]]]].
  destruct p' as [|x0 p']; [|discriminate En].
  assert (Hk' : head k' = Some f) by (inversion Sg; auto).
  assert (Lh : forall x, In x l0 -> h2 x = h x).
  { intros x J. destruct (Hl x J) as [Lx _]. rewrite Fr2; [|lia| intros ->; contradiction | intros []].
    unfold h1; upd_tac; [lia|auto]. }
  assert (Hff : h2 f = Some (ONode (mkN k v (head kc) V))).
  { rewrite Fr2; [|lia|lia|intros []]. unfold h1; upd_tac; auto; lia. }
  assert (C1 : c1 = c \/ S f <= c1 < f2).
  { destruct (M' c1 (or_introl eq_refl)) as [[[->|[]] _]|J]; auto. }
  assert (Rc : forall x, In x r -> x = c /\ x <> c1).
  { intros x J. destruct (Mr x J) as [[->|[]] [N _]]. split; auto. intros ->; apply N; simpl; auto. }
  destruct (with_slot_fields st w (d1 ++ c1 :: d2) h2 f2 (retq st ++ tag V r) (setk (amap st) k (Some v)))
    as [Eh [Ef [Eq [Em [Ev Es]]]]].
  apply (bucket_step R O st _ D1 c D2 L1 l0 L2 h2 f2 r c1 (f :: l0) B I LO Ld DL1 DL2 Eh Ef Eq Ev Es (Ld' _ _ _ _ _)).
  - apply keeps_trans with h1; auto. apply upd_fresh_keeps. apply Hf; lia.
  - lia.
  - exact Fz2.
  - intros x Lx N. rewrite Fr2; [|lia| intros ->; apply N; simpl; auto | intros []].
    unfold h1; upd_tac; [lia|auto].
  - exists k'. split; auto. rewrite Hk'. apply chain_cons with (mkN k v (head kc) V); auto.
    simpl. apply chain_frame with h; auto.
  - constructor; [|constructor; auto].
    + intros [J|J]; [destruct C1 as [->|]; lia|]. destruct C1 as [->|]; [contradiction|].
      apply Hl in J; lia.
    + intros J; apply Hl in J; lia.
  - intros x [<-|[<-|J]]; [destruct C1 as [->|]; [left; simpl; auto|right; lia] | right; lia | left; simpl; auto].
  - intros x [<-|[<-|J]].
    + exists (OChunk k'). split; auto. simpl; lia.
    + exists (ONode (mkN k v (head kc) V)). split; auto.
    + destruct (Hl x J) as [_ [n [Hn Vn]]]. exists (ONode n). rewrite Lh; auto.
  - intros x J. destruct (Rc x J) as [-> N]. split; [simpl; auto|].
    intros [J2|[J2|J2]]; [congruence|lia|contradiction].
  - exact NDr.
  - intros x J. destruct (Mr x J) as [[<-|[]] [_ E']]. rewrite E', H1c. discriminate.
  - intros x Lx. destruct (Nat.eq_dec x f) as [->|Ne]; [right; left; auto|].
    destruct (Fp x ltac:(lia)) as [<-|[]]. left; auto.
  - intros x [<-|J] _.
    + destruct (Fq c (or_introl eq_refl)) as [[<-|[]]|K]; [left; left; auto|right; auto].
    + left; right; right; auto.
  - destruct LO as [_ [_ [_ [MO _]]]]. change (hp st) with h in MO. change (amap st) with (amap st) in MO.
    assert (Cl : contents h (l0 :: L2) = map (entry h) l0 ++ contents h L2) by reflexivity.
    rewrite contents_app, Cl in MO. rewrite Em. simpl map.
    assert (Ef2 : entry h2 f = (k, v)) by (unfold entry; rewrite Hff; reflexivity).
    rewrite Ef2, (entries_frame h h2 l0 Lh).
    apply map_ok_insert; auto.
  - destruct LO as [_ [_ [_ [_ RO]]]].
    apply rehash_ok_edit with st l0; auto.
    + intros nd' rh Q. eapply slot_rehash; eauto.
    + eapply slot_prim_len; eauto.
    + eapply rh_bound with (w := w) (D1 := D1); eauto. intros Wf nd rh Q. specialize (W Wf nd rh Q). lia.
Qed.

Lemma target_facts (p s : list nat) t :
  NoDup (p ++ t :: s) -> ~ In t p /\ ~ In t s /\ NoDup p /\ NoDup s /\ (forall x, In x p -> ~ In x s).
Proof.
  intros N. apply NoDup_app_iff in N as [Np [Nts D]]. inversion Nts; subst.
  repeat split; auto.
  - intros J. apply (D t J). simpl; auto.
  - intros x J K. apply (D x J). simpl; auto.
Qed.

Lemma chain_target h hd p t s : chain h hd (p ++ t :: s) ->
  exists n, seg h hd p (Some t) /\ h t = Some (ONode n) /\ chain h (next n) s.
Proof.
  intros C. apply chain_split in C as [tl [Sg Ct]]. inversion Ct; subst. eauto.
Qed.

Lemma map_ok_contents m h L1 l L2 :
  map_ok m (contents h (L1 ++ l :: L2)) -> map_ok m (contents h L1 ++ map (entry h) l ++ contents h L2).
Proof. rewrite contents_app. auto. Qed.

(** ** put / get_mut / transform of a shared node: replaced by a copy *)
Lemma put_replace_shared_inv R O st w d1 c d2 kc p t s n v h2 f2 r c1 :
  bounds_ok st R O -> inv st ->
  slot st w d1 c d2 -> hp st c = Some (OChunk kc) -> chain (hp st) (head kc) (p ++ t :: s) ->
  hp st t = Some (ONode n) -> shared R (nver n) = true ->
  relink R (ver st) (upd (hp st) (fresh st) (ONode (mkN (key n) v (next n) (ver st)))) (S (fresh st)) c p
    (Some (fresh st)) = (h2, f2, r, c1) ->
  inv (with_slot st w (d1 ++ c1 :: d2) h2 f2 (retq st ++ tag (ver st) (r ++ [t]))
         (setk (amap st) (key n) (Some v))).
Proof.
  intros B I Sl Hc Cl Ht Sh E. pose proof B as [C RV].
  destruct (slot_prelude st w d1 c d2 kc _ I Sl Hc Cl)
    as [D1 [D2 [L1 [L2 [LO [Ld [DL1 [DL2 [Len [Ld' [F [T [Lc [Vc [Ncl [NDl [Hl Nq]]]]]]]]]]]]]]]]].
  destruct (target_facts p s t NDl) as [Ntp [Nts [NDp [NDs Dps]]]].
  destruct (chain_target _ _ _ _ _ Cl) as [n' [Sg0 [Ht' Cs]]]. rewrite Ht in Ht'. inversion Ht'; subst n'.
  set (f := fresh st) in *. set (h := hp st) in *. set (V := ver st) in *.
  set (h1 := upd h f (ONode (mkN (key n) v (next n) V))) in *.
  assert (InL : forall x, In x p \/ x = t \/ In x s -> In x (p ++ t :: s))
    by (intros x [J|[->|J]]; apply in_or_app; simpl; auto).
  assert (Hf : forall x, f <= x -> h x = None) by (apply (inv_fresh st I)).
  assert (Hf1 : forall x, S f <= x -> h1 x = None) by (intros x Lx; unfold h1; upd_tac; [lia|apply Hf; lia]).
  assert (H1c : h1 c = Some (OChunk kc)) by (unfold h1; upd_tac; [lia|auto]).
  assert (Hp1 : forall a, In a p -> a < S f /\ exists m, h1 a = Some (ONode m) /\ nver m <= V).
  { intros a J. destruct (Hl a (InL a (or_introl J))) as [La [m Hm]]. split; [lia|]. exists m.
    unfold h1; upd_tac; [lia|auto]. }
  assert (Ncp : ~ In c p) by (intros J; apply Ncl, InL; auto).
  assert (Pf : forall x, In x p -> x < f) by (intros x J; destruct (Hl x (InL x (or_introl J))); lia).
  assert (Sf : forall x, In x s -> x < f)
    by (intros x J; destruct (Hl x (InL x (or_intror (or_intror J)))); lia).
  destruct (relink_ok R V h1 (S f) c p (Some f) h2 f2 r c1 kc E RV Hf1 H1c Vc ltac:(lia) Ncp Hp1 NDp)
    as [L2f [Fr2 [Fz2 [K2 [p' [k' [Hc1 [Vk' [Sg [En [ND' [M' [Mr [Vb [NDr [Fp Fq]]]]]]]]]]]]]]]].
  assert (Lh : forall x, In x s -> h2 x = h x).
  { intros x J. destruct (Hl x (InL x (or_intror (or_intror J)))) as [Lx _].
    rewrite Fr2; [|lia| intros ->; apply Ncl, InL; auto | intros J2; apply (Dps x J2 J)].
    unfold h1; upd_tac; [lia|auto]. }
  assert (Hff : h2 f = Some (ONode (mkN (key n) v (next n) V))).
  { rewrite Fr2. { unfold h1; upd_tac; auto; lia. } { lia. } { lia. } { intros J; apply Pf in J; lia. } }
  assert (Mp : forall x, In x (c1 :: p') -> (x = c \/ In x p) \/ S f <= x < f2).
  { intros x J. destruct (M' x J) as [[[->|J2] _]|J2]; auto. }
  assert (Old : forall x, x = c \/ In x p -> x < f) by (intros x [->|J]; [lia|apply Pf in J; lia]).
  destruct (with_slot_fields st w (d1 ++ c1 :: d2) h2 f2 (retq st ++ tag V (r ++ [t]))
              (setk (amap st) (key n) (Some v))) as [Eh [Ef [Eq [Em [Ev Es]]]]].
  apply (bucket_step R O st _ D1 c D2 L1 (p ++ t :: s) L2 h2 f2 (r ++ [t]) c1 (p' ++ f :: s)
           B I LO Ld DL1 DL2 Eh Ef Eq Ev Es (Ld' _ _ _ _ _)).
  - apply keeps_trans with h1; auto. apply upd_fresh_keeps. apply Hf; lia.
  - lia.
  - exact Fz2.
  - intros x Lx N. rewrite Fr2; [|lia| intros ->; apply N; simpl; auto | intros J; apply N; right; apply InL; auto].
    unfold h1; upd_tac; [lia|auto].
  - exists k'. split; auto. apply seg_chain with (Some f); auto.
    apply chain_cons with (mkN (key n) v (next n) V); auto. simpl. apply chain_frame with h; auto.
  - change (c1 :: p' ++ f :: s) with ((c1 :: p') ++ f :: s). apply NoDup_app_iff. split; auto. split.
    + constructor; auto. intros J. destruct (Hl f (InL f (or_intror (or_intror J)))). lia.
    + intros x J [E2|J2].
      * subst x. destruct (Mp f J) as [J3|J3]; [apply Old in J3|]; lia.
      * destruct (Mp x J) as [[->|J3]|J3].
        -- apply Ncl, InL; auto.
        -- apply (Dps x J3 J2).
        -- apply Sf in J2. lia.
  - intros x J. change (c1 :: p' ++ f :: s) with ((c1 :: p') ++ f :: s) in J.
    apply in_app_or in J as [J|[<-|J]].
    + destruct (Mp x J) as [[->|J2]|J2]; [left; simpl; auto|left; right; apply InL; auto|right; lia].
    + right; lia.
    + left; right; apply InL; auto.
  - intros x J. change (c1 :: p' ++ f :: s) with ((c1 :: p') ++ f :: s) in J.
    apply in_app_or in J as [[<-|J]|[<-|J]].
    + exists (OChunk k'). split; auto. simpl; lia.
    + apply Vb; auto.
    + exists (ONode (mkN (key n) v (next n) V)). split; auto.
    + destruct (Hl x (InL x (or_intror (or_intror J)))) as [_ [m [Hm Vm]]]. exists (ONode m).
      rewrite Lh; auto.
  - intros x J. apply in_app_or in J as [J|[<-|[]]].
    + destruct (Mr x J) as [[->|J2] [N _]].
      * split; [simpl; auto|]. change (c1 :: p' ++ f :: s) with ((c1 :: p') ++ f :: s).
        intros J3. apply in_app_or in J3 as [J3|[J3|J3]]; [contradiction|lia|].
        apply Ncl, InL; auto.
      * split; [right; apply InL; auto|]. change (c1 :: p' ++ f :: s) with ((c1 :: p') ++ f :: s).
        intros J3. apply in_app_or in J3 as [J3|[J3|J3]]; [contradiction| |apply (Dps x J2 J3)].
        apply Pf in J2; lia.
    + split; [right; apply InL; auto|]. change (c1 :: p' ++ t :: s) with ((c1 :: p') ++ t :: s).
      change (c1 :: p' ++ f :: s) with ((c1 :: p') ++ f :: s).
      intros J3. apply in_app_or in J3 as [J3|[J3|J3]].
      * destruct (Mp t J3) as [[E3|J4]|J4]; [subst; apply Ncl, InL; auto|contradiction|].
        assert (Lt : t < f) by (apply (proj1 (Hl t (InL t (or_intror (or_introl eq_refl)))))). lia.
      * assert (Lt : t < f) by (apply (proj1 (Hl t (InL t (or_intror (or_introl eq_refl)))))). lia.
      * contradiction.
  - apply NoDup_app_iff. split; [exact NDr|]. split; [constructor; [intros []|constructor]|].
    intros x J [<-|[]]. destruct (Mr t J) as [[E'|J2] _]; [apply Ncl; rewrite E'; apply InL; auto|contradiction].
  - intros x J. apply in_app_or in J as [J|[<-|[]]].
    + destruct (Mr x J) as [[->|J2] [_ E']]; rewrite E'.
      * rewrite H1c. discriminate.
      * destruct (Hp1 x J2) as [_ [m [Hm _]]]. rewrite Hm. discriminate.
    + assert (Ltf : t < f) by (destruct (Hl t (InL t (or_intror (or_introl eq_refl)))); lia).
      rewrite Fr2; [|lia|intros ->; apply Ncl, InL; auto|auto]. unfold h1. upd_tac; [lia|].
      fold h in Ht. rewrite Ht. discriminate.
  - intros x Lx. change (c1 :: p' ++ f :: s) with ((c1 :: p') ++ f :: s). apply in_or_app.
    destruct (Nat.eq_dec x f) as [->|Ne]; [right; left; auto|left; apply Fp; lia].
  - intros x J _. change (c :: p ++ t :: s) with ((c :: p) ++ t :: s) in J.
    change (c1 :: p' ++ f :: s) with ((c1 :: p') ++ f :: s).
    apply in_app_or in J as [J|[<-|J]].
    + destruct (Fq x J) as [K|K]; [left; apply in_or_app; left; auto|right; apply in_or_app; left; auto].
    + right. apply in_or_app. right. left. auto.
    + left. apply in_or_app. right. right. auto.
  - destruct LO as [_ [_ [_ [MO _]]]]. apply map_ok_contents in MO. rewrite Em.
    change (hp st) with h in MO |- *.
    assert (Ef2 : entry h2 f = (key n, v)) by (unfold entry; rewrite Hff; reflexivity).
    assert (Et : entry h t = (key n, val n)) by (unfold entry; rewrite Ht; reflexivity).
    assert (En' : map (entry h2) p' = map (entry h) p).
    { rewrite En. apply entries_frame. intros x J. unfold h1. upd_tac; auto. apply Pf in J; lia. }
    assert (Eo : map (entry h) (p ++ t :: s) = map (entry h) p ++ (key n, val n) :: map (entry h) s)
      by (rewrite map_app; simpl; rewrite Et; reflexivity).
    assert (Enew : map (entry h2) (p' ++ f :: s) = map (entry h) p ++ (key n, v) :: map (entry h) s)
      by (rewrite map_app; simpl; rewrite Ef2, En', (entries_frame h h2 s Lh); reflexivity).
    rewrite Eo in MO. rewrite Enew.
    replace (contents h L1 ++ (map (entry h) p ++ (key n, v) :: map (entry h) s) ++ contents h L2)
      with ((contents h L1 ++ map (entry h) p) ++ (key n, v) :: (map (entry h) s ++ contents h L2))
      by (rewrite <- !app_assoc; reflexivity).
    replace (contents h L1 ++ (map (entry h) p ++ (key n, val n) :: map (entry h) s) ++ contents h L2)
      with ((contents h L1 ++ map (entry h) p) ++ (key n, val n) :: (map (entry h) s ++ contents h L2)) in MO
      by (rewrite <- !app_assoc; reflexivity).
    eapply map_ok_replace; eauto.
  - destruct LO as [_ [_ [_ [_ RO]]]].
    apply rehash_ok_edit with st (p ++ t :: s); auto.
    + intros nd' rh Q. eapply slot_rehash; eauto.
    + eapply slot_prim_len; eauto.
    + intros nd rh Q. destruct w.
      * specialize (T eq_refl). destruct (RO _ _ Q). lia.
      * apply (nonempty_after_rh st _ L1 (p ++ t :: s) L2 nd rh RO eq_refl); auto.
        destruct p; discriminate.
Qed.

Lemma chain_upd_same h hd l t n n' :
  chain h hd l -> h t = Some (ONode n) -> next n' = next n -> chain (upd h t (ONode n')) hd l.
Proof.
  induction 1; intros Ht Nx; [constructor|].
  destruct (Nat.eqb_spec a t) as [->|Ne].
  - rewrite Ht in H; inversion H; subst. apply chain_cons with n'; [unfold upd; rewrite Nat.eqb_refl; auto|].
    rewrite Nx; auto.
  - apply chain_cons with n0; [unfold upd; destruct (Nat.eqb_spec a t); [contradiction|auto]|]. auto.
Qed.

(** ** put / get_mut of a private node: the state written in place *)
Lemma put_in_place_inv R O st w d1 c d2 kc p t s n v :
  bounds_ok st R O -> inv st ->
  slot st w d1 c d2 -> hp st c = Some (OChunk kc) -> chain (hp st) (head kc) (p ++ t :: s) ->
  hp st t = Some (ONode n) -> shared R (nver n) = false ->
  inv (with_slot st w (d1 ++ c :: d2) (upd (hp st) t (ONode (mkN (key n) v (next n) (nver n))))
         (fresh st) (retq st) (setk (amap st) (key n) (Some v))).
Proof.
  intros B I Sl Hc Cl Ht Sh. pose proof B as [C RV].
  destruct (slot_prelude st w d1 c d2 kc _ I Sl Hc Cl)
    as [D1 [D2 [L1 [L2 [LO [Ld [DL1 [DL2 [Len [Ld' [F [T [Lc [Vc [Ncl [NDl [Hl Nq]]]]]]]]]]]]]]]]].
  destruct (target_facts p s t NDl) as [Ntp [Nts [NDp [NDs Dps]]]].
  set (f := fresh st) in *. set (h := hp st) in *. set (V := ver st) in *.
  set (h' := upd h t (ONode (mkN (key n) v (next n) (nver n)))) in *.
  assert (InL : forall x, In x p \/ x = t \/ In x s -> In x (p ++ t :: s))
    by (intros x [J|[->|J]]; apply in_or_app; simpl; auto).
  assert (Lt : t < f) by (destruct (Hl t (InL t (or_intror (or_introl eq_refl)))); lia).
  assert (Hf : forall x, f <= x -> h x = None) by (apply (inv_fresh st I)).
  assert (Ntc : t <> c) by (intros ->; apply Ncl, InL; auto).
  destruct (with_slot_fields st w (d1 ++ c :: d2) h' f (retq st) (setk (amap st) (key n) (Some v)))
    as [Eh [Ef [Eq [Em [Ev Es]]]]].
  assert (Eq' : retq (with_slot st w (d1 ++ c :: d2) h' f (retq st) (setk (amap st) (key n) (Some v)))
                = retq st ++ tag V []) by (rewrite Eq, app_nil_r; auto).
  apply (bucket_step R O st _ D1 c D2 L1 (p ++ t :: s) L2 h' f [] c (p ++ t :: s)
           B I LO Ld DL1 DL2 Eh Ef Eq' Ev Es (Ld' _ _ _ _ _)).
  - apply keeps_upd. intros o Ho. fold h in Ht. rewrite Ht in Ho. inversion Ho; subst. simpl.
    unfold shared in Sh. apply Nat.ltb_ge in Sh. lia.
  - lia.
  - intros x Lx. unfold h'; upd_tac; [lia|auto].
  - intros x Lx N. unfold h'; upd_tac; [exfalso; apply N; right; apply InL; auto|auto].
  - exists kc. split; [unfold h'; upd_tac; [contradiction|auto]|].
    apply chain_upd_same with n; auto.
  - constructor; auto.
  - intros x J; left; auto.
  - intros x [<-|J].
    + exists (OChunk kc). split; [unfold h'; upd_tac; [contradiction|auto]|]. simpl; auto.
    + destruct (Hl x J) as [_ [m [Hm Vm]]]. unfold h'. upd_tac.
      * exists (ONode (mkN (key n) v (next n) (nver n))). split; auto. simpl.
        fold h in Ht. rewrite Ht in Hm. inversion Hm; subst; auto.
      * exists (ONode m). auto.
  - intros x [].
  - constructor.
  - intros x [].
  - intros x Lx. lia.
  - intros x J _. left. auto.
  - destruct LO as [_ [_ [_ [MO _]]]]. apply map_ok_contents in MO. rewrite Em.
    change (hp st) with h in MO |- *.
    assert (Et : entry h t = (key n, val n)) by (unfold entry; fold h in Ht; rewrite Ht; reflexivity).
    assert (Et' : entry h' t = (key n, v)) by (unfold entry, h', upd; rewrite Nat.eqb_refl; reflexivity).
    assert (Ep : map (entry h') p = map (entry h) p)
      by (apply entries_frame; intros x J; unfold h'; upd_tac; [contradiction|auto]).
    assert (Es' : map (entry h') s = map (entry h) s)
      by (apply entries_frame; intros x J; unfold h'; upd_tac; [contradiction|auto]).
    assert (Eo : map (entry h) (p ++ t :: s) = map (entry h) p ++ (key n, val n) :: map (entry h) s)
      by (rewrite map_app; simpl; rewrite Et; reflexivity).
    assert (Enew : map (entry h') (p ++ t :: s) = map (entry h) p ++ (key n, v) :: map (entry h) s)
      by (rewrite map_app; simpl; rewrite Et', Ep, Es'; reflexivity).
    rewrite Eo in MO. rewrite Enew.
    replace (contents h L1 ++ (map (entry h) p ++ (key n, v) :: map (entry h) s) ++ contents h L2)
      with ((contents h L1 ++ map (entry h) p) ++ (key n, v) :: (map (entry h) s ++ contents h L2))
      by (rewrite <- !app_assoc; reflexivity).
    replace (contents h L1 ++ (map (entry h) p ++ (key n, val n) :: map (entry h) s) ++ contents h L2)
      with ((contents h L1 ++ map (entry h) p) ++ (key n, val n) :: (map (entry h) s ++ contents h L2)) in MO
      by (rewrite <- !app_assoc; reflexivity).
    eapply map_ok_replace; eauto.
  - destruct LO as [_ [_ [_ [_ RO]]]].
    apply rehash_ok_edit with st (p ++ t :: s); auto.
    + intros nd' rh Q. eapply slot_rehash; eauto.
    + eapply slot_prim_len; eauto.
    + intros nd rh Q. destruct w.
      * specialize (T eq_refl). destruct (RO _ _ Q). lia.
      * apply (nonempty_after_rh st _ L1 (p ++ t :: s) L2 nd rh RO eq_refl); auto.
        destruct p; discriminate.
Qed.

(** Common facts for an operation that runs privatize_prefix in front of target [t] (transform of a private
    node, remove). *)
Lemma target_relink R O st w d1 c d2 kc p t s n tl h2 f2 r c1 :
  bounds_ok st R O -> inv st ->
  slot st w d1 c d2 -> hp st c = Some (OChunk kc) -> chain (hp st) (head kc) (p ++ t :: s) ->
  hp st t = Some (ONode n) ->
  relink R (ver st) (hp st) (fresh st) c p tl = (h2, f2, r, c1) ->
  exists D1 D2 L1 L2 p' k',
    live_ok st (L1 ++ (p ++ t :: s) :: L2) /\ live_dirs st = D1 ++ c :: D2 /\
    dirv (hp st) D1 L1 /\ dirv (hp st) D2 L2 /\ length L1 = length D1 /\
    (forall c' h f q m, live_dirs (with_slot st w (d1 ++ c' :: d2) h f q m) = D1 ++ c' :: D2) /\
    (w = true -> length (prim st) <= length D1) /\
    fresh st <= f2 /\ (forall x, f2 <= x -> h2 x = None) /\ keeps R (hp st) h2 /\
    (forall x, x < fresh st -> x <> c -> ~ In x p -> h2 x = hp st x) /\
    h2 c1 = Some (OChunk k') /\ cver k' <= ver st /\ seg h2 (head k') p' tl /\
    map (entry h2) p' = map (entry (hp st)) p /\ NoDup (c1 :: p') /\
    (forall x, In x (c1 :: p') -> ((x = c \/ In x p) /\ ~ In x r) \/ fresh st <= x < f2) /\
    (forall x, In x r -> (x = c \/ In x p) /\ ~ In x (c1 :: p')) /\
    NoDup r /\ (forall x, In x r -> h2 x = hp st x) /\
    (forall x, fresh st <= x < f2 -> In x (c1 :: p')) /\ (forall x, In x (c :: p) -> In x (c1 :: p') \/ In x r) /\
    vbound h2 (ver st) p' /\
    ~ In t p /\ ~ In t s /\ NoDup s /\ (forall x, In x p -> ~ In x s) /\ t <> c /\ ~ In c s /\
    (forall x, In x (p ++ t :: s) -> x < fresh st /\ exists m, hp st x = Some (ONode m) /\ nver m <= ver st) /\
    chain (hp st) (next n) s /\ h2 t = hp st t /\ (forall x, In x s -> h2 x = hp st x).
Proof.
  intros B I Sl Hc Cl Ht E. pose proof B as [C RV].
  destruct (slot_prelude st w d1 c d2 kc _ I Sl Hc Cl)
    as [D1 [D2 [L1 [L2 [LO [Ld [DL1 [DL2 [Len [Ld' [F [T [Lc [Vc [Ncl [NDl [Hl Nq]]]]]]]]]]]]]]]]].
  destruct (target_facts p s t NDl) as [Ntp [Nts [NDp [NDs Dps]]]].
  destruct (chain_target _ _ _ _ _ Cl) as [n' [Sg0 [Ht' Cs]]]. rewrite Ht in Ht'. inversion Ht'; subst n'.
  assert (InL : forall x, In x p \/ x = t \/ In x s -> In x (p ++ t :: s))
    by (intros x [J|[->|J]]; apply in_or_app; simpl; auto).
  assert (Hp1 : forall a, In a p -> a < fresh st /\ exists m, hp st a = Some (ONode m) /\ nver m <= ver st)
    by (intros a J; apply Hl, InL; auto).
  assert (Ncp : ~ In c p) by (intros J; apply Ncl, InL; auto).
  destruct (relink_ok R (ver st) (hp st) (fresh st) c p tl h2 f2 r c1 kc E RV (inv_fresh st I) Hc Vc Lc
              Ncp Hp1 NDp)
    as [L2f [Fr2 [Fz2 [K2 [p' [k' [Hc1 [Vk' [Sg [En [ND' [M' [Mr [Vb [NDr [Fp Fq]]]]]]]]]]]]]]]].
  assert (Lt : t < fresh st) by (destruct (Hl t (InL t (or_intror (or_introl eq_refl)))); lia).
  exists D1, D2, L1, L2, p', k'.
  do 6 (split; [assumption|]). split; [exact T|].
  split; [lia|]. split; [exact Fz2|]. split; [exact K2|]. split; [exact Fr2|].
  split; [exact Hc1|]. split; [lia|]. split; [exact Sg|]. split; [exact En|]. split; [exact ND'|].
  split; [intros x J; destruct (M' x J) as [[[->|J2] N]|J2]; auto|].
  split; [intros x J; destruct (Mr x J) as [[->|J2] [N _]]; auto|].
  split; [exact NDr|]. split; [intros x J; destruct (Mr x J) as [_ [_ E']]; exact E'|].
  split; [exact Fp|]. split; [exact Fq|].
  split; [exact Vb|]. do 4 (split; [assumption|]).
  split; [intros ->; apply Ncl, InL; auto|]. split; [intros J; apply Ncl, InL; auto|].
  split; [exact Hl|]. split; [exact Cs|]. split.
  - apply Fr2; auto. intros ->; apply Ncl, InL; auto.
  - intros x J. destruct (Hl x (InL x (or_intror (or_intror J)))) as [Lx _]. apply Fr2; auto.
    + intros ->; apply Ncl, InL; auto.
    + intros J2; apply (Dps x J2 J).
Qed.

(** ** transform of a private node *)
Lemma transform_private_inv R O st w d1 c d2 kc p t s n v h2 f2 r c1 :
  bounds_ok st R O -> inv st ->
  slot st w d1 c d2 -> hp st c = Some (OChunk kc) -> chain (hp st) (head kc) (p ++ t :: s) ->
  hp st t = Some (ONode n) -> shared R (nver n) = false ->
  relink R (ver st) (hp st) (fresh st) c p (Some t) = (h2, f2, r, c1) ->
  inv (with_slot st w (d1 ++ c1 :: d2) (upd h2 t (ONode (mkN (key n) v (next n) (nver n)))) f2
         (retq st ++ tag (ver st) r) (setk (amap st) (key n) (Some v))).
Proof.
  intros B I Sl Hc Cl Ht Sh E.
  destruct (target_relink R O st w d1 c d2 kc p t s n (Some t) h2 f2 r c1 B I Sl Hc Cl Ht E)
    as [D1 [D2 [L1 [L2 [p' [k' [LO [Ld [DL1 [DL2 [Len [Ld' [T [Lf [Fz2 [K2 [Fr2 [Hc1 [Vk' [Sg [En [ND' [M' [Mr [NDr [Ar [Fp [Fq [Vb [Ntp [Nts [NDs [Dps [Ntc [Ncs [Hl [Cs [H2t H2s]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]].
  pose proof B as [C RV].
  set (f := fresh st) in *. set (h := hp st) in *. set (V := ver st) in *.
  set (h3 := upd h2 t (ONode (mkN (key n) v (next n) (nver n)))) in *.
  assert (InL : forall x, In x p \/ x = t \/ In x s -> In x (p ++ t :: s))
    by (intros x [J|[->|J]]; apply in_or_app; simpl; auto).
  assert (Pf : forall x, In x p -> x < f) by (intros x J; destruct (Hl x (InL x (or_introl J))); lia).
  assert (Sf : forall x, In x s -> x < f)
    by (intros x J; destruct (Hl x (InL x (or_intror (or_intror J)))); lia).
  assert (Lt : t < f) by (destruct (Hl t (InL t (or_intror (or_introl eq_refl)))); lia).
  assert (Ntp' : ~ In t (c1 :: p')).
  { intros J. destruct (M' t J) as [[[E2|J2] _]|J2]; [congruence|contradiction|lia]. }
  assert (Nc1t : c1 <> t) by (intros ->; apply Ntp'; simpl; auto).
  assert (H3s : forall x, In x s -> h3 x = h x)
    by (intros x J; unfold h3; upd_tac; [contradiction|auto]).
  destruct (with_slot_fields st w (d1 ++ c1 :: d2) h3 f2 (retq st ++ tag V r)
              (setk (amap st) (key n) (Some v))) as [Eh [Ef [Eq [Em [Ev Es]]]]].
  apply (bucket_step R O st _ D1 c D2 L1 (p ++ t :: s) L2 h3 f2 r c1 (p' ++ t :: s)
           B I LO Ld DL1 DL2 Eh Ef Eq Ev Es (Ld' _ _ _ _ _)).
  - apply keeps_trans with h2; auto. apply keeps_upd. intros o Ho. rewrite H2t in Ho. fold h in Ht.
    rewrite Ht in Ho. inversion Ho; subst. simpl. unfold shared in Sh. apply Nat.ltb_ge in Sh. lia.
  - lia.
  - intros x Lx. unfold h3; upd_tac; [lia|auto].
  - intros x Lx N. unfold h3; upd_tac; [exfalso; apply N; right; apply InL; auto|].
    apply Fr2; auto; [intros ->; apply N; simpl; auto | intros J; apply N; right; apply InL; auto].
  - exists k'. split; [unfold h3; upd_tac; [contradiction|auto]|].
    apply seg_chain with (Some t).
    + apply seg_frame with h2; auto. intros x J. unfold h3; upd_tac; auto. exfalso; apply Ntp'; right; auto.
    + apply chain_cons with (mkN (key n) v (next n) (nver n)); [unfold h3, upd; rewrite Nat.eqb_refl; auto|].
      simpl. apply chain_frame with h; auto.
  - change (c1 :: p' ++ t :: s) with ((c1 :: p') ++ t :: s). apply NoDup_app_iff. split; auto. split.
    + constructor; auto.
    + intros x J [E2|J2].
      * subst x. contradiction.
      * destruct (M' x J) as [[[->|J3] _]|J3].
        -- contradiction.
        -- apply (Dps x J3 J2).
        -- apply Sf in J2. lia.
  - intros x J. change (c1 :: p' ++ t :: s) with ((c1 :: p') ++ t :: s) in J.
    apply in_app_or in J as [J|[<-|J]].
    + destruct (M' x J) as [[[->|J2] _]|J2]; [left; simpl; auto|left; right; apply InL; auto|right; lia].
    + left; right; apply InL; auto.
    + left; right; apply InL; auto.
  - intros x J. change (c1 :: p' ++ t :: s) with ((c1 :: p') ++ t :: s) in J.
    apply in_app_or in J as [[<-|J]|[<-|J]].
    + exists (OChunk k'). split; [unfold h3; upd_tac; [contradiction|auto]|]. simpl; lia.
    + destruct (Vb x J) as [o [Ho Lo]]. exists o. split; auto. unfold h3; upd_tac; auto.
      exfalso; apply Ntp'; right; auto.
    + exists (ONode (mkN (key n) v (next n) (nver n))). split; [unfold h3, upd; rewrite Nat.eqb_refl; auto|].
      simpl. destruct (Hl t (InL t (or_intror (or_introl eq_refl)))) as [_ [m [Hm Vm]]].
      fold h in Ht. rewrite Ht in Hm. inversion Hm; subst; auto.
    + destruct (Hl x (InL x (or_intror (or_intror J)))) as [_ [m [Hm Vm]]]. exists (ONode m).
      rewrite H3s, <- Hm; auto.
  - intros x J. destruct (Mr x J) as [[->|J2] N]; split.
    + simpl; auto.
    + change (c1 :: p' ++ t :: s) with ((c1 :: p') ++ t :: s).
      intros J3. apply in_app_or in J3 as [J3|[J3|J3]]; [contradiction|congruence|contradiction].
    + right; apply InL; auto.
    + change (c1 :: p' ++ t :: s) with ((c1 :: p') ++ t :: s).
      intros J3. apply in_app_or in J3 as [J3|[J3|J3]]; [contradiction| |apply (Dps x J2 J3)].
      subst; contradiction.
  - exact NDr.
  - intros x J. destruct (Mr x J) as [[E'|J2] _].
    + subst x. unfold h3. upd_tac; [congruence|]. rewrite (Ar c J). fold h. rewrite Hc. discriminate.
    + unfold h3. upd_tac; [contradiction|]. rewrite (Ar x J).
      destruct (Hl x (InL x (or_introl J2))) as [_ [m [Hm _]]]. fold h in Hm. rewrite Hm. discriminate.
  - intros x Lx. change (c1 :: p' ++ t :: s) with ((c1 :: p') ++ t :: s). apply in_or_app. left. apply Fp. lia.
  - intros x J _. change (c :: p ++ t :: s) with ((c :: p) ++ t :: s) in J.
    change (c1 :: p' ++ t :: s) with ((c1 :: p') ++ t :: s).
    apply in_app_or in J as [J|J].
    + destruct (Fq x J) as [K|K]; [left; apply in_or_app; left; auto|right; auto].
    + left. apply in_or_app. right. auto.
  - destruct LO as [_ [_ [_ [MO _]]]]. apply map_ok_contents in MO. rewrite Em.
    change (hp st) with h in MO |- *.
    assert (Et : entry h t = (key n, val n)) by (unfold entry; fold h in Ht; rewrite Ht; reflexivity).
    assert (Et' : entry h3 t = (key n, v)) by (unfold entry, h3, upd; rewrite Nat.eqb_refl; reflexivity).
    assert (En' : map (entry h3) p' = map (entry h) p).
    { rewrite <- En. apply entries_frame. intros x J. unfold h3; upd_tac; auto.
      exfalso; apply Ntp'; right; auto. }
    assert (Eo : map (entry h) (p ++ t :: s) = map (entry h) p ++ (key n, val n) :: map (entry h) s)
      by (rewrite map_app; simpl; rewrite Et; reflexivity).
    assert (Enew : map (entry h3) (p' ++ t :: s) = map (entry h) p ++ (key n, v) :: map (entry h) s)
      by (rewrite map_app; simpl; rewrite Et', En', (entries_frame h h3 s H3s); reflexivity).
    rewrite Eo in MO. rewrite Enew.
    replace (contents h L1 ++ (map (entry h) p ++ (key n, v) :: map (entry h) s) ++ contents h L2)
      with ((contents h L1 ++ map (entry h) p) ++ (key n, v) :: (map (entry h) s ++ contents h L2))
      by (rewrite <- !app_assoc; reflexivity).
    replace (contents h L1 ++ (map (entry h) p ++ (key n, val n) :: map (entry h) s) ++ contents h L2)
      with ((contents h L1 ++ map (entry h) p) ++ (key n, val n) :: (map (entry h) s ++ contents h L2)) in MO
      by (rewrite <- !app_assoc; reflexivity).
    eapply map_ok_replace; eauto.
  - destruct LO as [_ [_ [_ [_ RO]]]].
    apply rehash_ok_edit with st (p ++ t :: s); auto.
    + intros nd' rh Q. eapply slot_rehash; eauto.
    + eapply slot_prim_len; eauto.
    + intros nd rh Q. destruct w.
      * specialize (T eq_refl). destruct (RO _ _ Q). lia.
      * apply (nonempty_after_rh st _ L1 (p ++ t :: s) L2 nd rh RO eq_refl); auto.
        destruct p; discriminate.
Qed.

(** ** remove *)
Lemma remove_inv R O st w d1 c d2 kc p t s n h2 f2 r c1 :
  bounds_ok st R O -> inv st ->
  slot st w d1 c d2 -> hp st c = Some (OChunk kc) -> chain (hp st) (head kc) (p ++ t :: s) ->
  hp st t = Some (ONode n) ->
  relink R (ver st) (hp st) (fresh st) c p (next n) = (h2, f2, r, c1) ->
  inv (with_slot st w (d1 ++ c1 :: d2) (if shared R (nver n) then h2 else hfree h2 t) f2
         (retq st ++ tag (ver st) (r ++ if shared R (nver n) then [t] else []))
         (setk (amap st) (key n) None)).
Proof.
  intros B I Sl Hc Cl Ht E.
  destruct (target_relink R O st w d1 c d2 kc p t s n (next n) h2 f2 r c1 B I Sl Hc Cl Ht E)
    as [D1 [D2 [L1 [L2 [p' [k' [LO [Ld [DL1 [DL2 [Len [Ld' [T [Lf [Fz2 [K2 [Fr2 [Hc1 [Vk' [Sg [En [ND'
        [M' [Mr [NDr [Ar [Fp [Fq [Vb [Ntp [Nts [NDs [Dps [Ntc [Ncs [Hl [Cs [H2t H2s]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]].
  pose proof B as [C RV].
  set (f := fresh st) in *. set (h := hp st) in *. set (V := ver st) in *.
  set (h3 := if shared R (nver n) then h2 else hfree h2 t) in *.
  set (rr := r ++ (if shared R (nver n) then [t] else [])) in *.
  assert (InL : forall x, In x p \/ x = t \/ In x s -> In x (p ++ t :: s))
    by (intros x [J|[->|J]]; apply in_or_app; simpl; auto).
  assert (Pf : forall x, In x p -> x < f) by (intros x J; destruct (Hl x (InL x (or_introl J))); lia).
  assert (Sf : forall x, In x s -> x < f)
    by (intros x J; destruct (Hl x (InL x (or_intror (or_intror J)))); lia).
  assert (Lt : t < f) by (destruct (Hl t (InL t (or_intror (or_introl eq_refl)))); lia).
  assert (Ntp' : ~ In t (c1 :: p')).
  { intros J. destruct (M' t J) as [[[E2|J2] _]|J2]; [congruence|contradiction|lia]. }
  assert (H3 : forall x, x <> t -> h3 x = h2 x)
    by (intros x N; unfold h3; destruct (shared R (nver n)); auto; unfold hfree; upd_tac; [contradiction|auto]).
  destruct (with_slot_fields st w (d1 ++ c1 :: d2) h3 f2 (retq st ++ tag V rr)
              (setk (amap st) (key n) None)) as [Eh [Ef [Eq [Em [Ev Es]]]]].
  apply (bucket_step R O st _ D1 c D2 L1 (p ++ t :: s) L2 h3 f2 rr c1 (p' ++ s)
           B I LO Ld DL1 DL2 Eh Ef Eq Ev Es (Ld' _ _ _ _ _)).
  - apply keeps_trans with h2; auto. unfold h3. destruct (shared R (nver n)) eqn:Sh; [apply keeps_refl|].
    apply keeps_free. intros o Ho. rewrite H2t in Ho. fold h in Ht.
    rewrite Ht in Ho. inversion Ho; subst. simpl. unfold shared in Sh. apply Nat.ltb_ge in Sh. lia.
  - lia.
  - intros x Lx. rewrite H3; [auto|lia].
  - intros x Lx N. rewrite H3; [|intros ->; apply N; right; apply InL; auto].
    apply Fr2; auto; [intros ->; apply N; simpl; auto | intros J; apply N; right; apply InL; auto].
  - exists k'. split; [rewrite H3; auto; intros ->; apply Ntp'; simpl; auto|].
    apply seg_chain with (next n).
    + apply seg_frame with h2; auto. intros x J. apply H3. intros ->; apply Ntp'; right; auto.
    + apply chain_frame with h; auto. intros x J. rewrite H3; [auto|intros ->; contradiction].
  - change (c1 :: p' ++ s) with ((c1 :: p') ++ s). apply NoDup_app_iff. split; auto. split; auto.
    intros x J J2. destruct (M' x J) as [[[->|J3] _]|J3].
    + contradiction.
    + apply (Dps x J3 J2).
    + apply Sf in J2. lia.
  - intros x J. change (c1 :: p' ++ s) with ((c1 :: p') ++ s) in J.
    apply in_app_or in J as [J|J].
    + destruct (M' x J) as [[[->|J2] _]|J2]; [left; simpl; auto|left; right; apply InL; auto|right; lia].
    + left; right; apply InL; auto.
  - intros x J. change (c1 :: p' ++ s) with ((c1 :: p') ++ s) in J.
    apply in_app_or in J as [[<-|J]|J].
    + exists (OChunk k'). split; [rewrite H3; auto; intros ->; apply Ntp'; simpl; auto|]. simpl; lia.
    + destruct (Vb x J) as [o [Ho Lo]]. exists o. split; auto. rewrite H3; auto.
      intros ->; apply Ntp'; right; auto.
    + destruct (Hl x (InL x (or_intror (or_intror J)))) as [_ [m [Hm Vm]]]. exists (ONode m).
      rewrite H3, H2s, Hm; auto. intros ->; contradiction.
  - intros x J. unfold rr in J. apply in_app_or in J as [J|J].
    + destruct (Mr x J) as [[->|J2] N]; split.
      * simpl; auto.
      * change (c1 :: p' ++ s) with ((c1 :: p') ++ s).
        intros J3. apply in_app_or in J3 as [J3|J3]; contradiction.
      * right; apply InL; auto.
      * change (c1 :: p' ++ s) with ((c1 :: p') ++ s).
        intros J3. apply in_app_or in J3 as [J3|J3]; [contradiction|apply (Dps x J2 J3)].
    + destruct (shared R (nver n)); [|destruct J]. destruct J as [<-|[]]. split; [right; apply InL; auto|].
      change (c1 :: p' ++ s) with ((c1 :: p') ++ s).
      intros J3. apply in_app_or in J3 as [J3|J3]; contradiction.
  - unfold rr. destruct (shared R (nver n)) eqn:Shn.
    + apply NoDup_app_iff. split; [exact NDr|]. split; [constructor; [intros []|constructor]|].
      intros x J [<-|[]]. destruct (Mr t J) as [[E'|J2] _]; [congruence|contradiction].
    + rewrite app_nil_r. exact NDr.
  - intros x J. unfold rr in J. apply in_app_or in J as [J|J].
    + destruct (Mr x J) as [[E'|J2] _].
      * subst x. rewrite H3; [|congruence]. rewrite (Ar c J). fold h. rewrite Hc. discriminate.
      * rewrite H3; [|intros ->; contradiction]. rewrite (Ar x J).
        destruct (Hl x (InL x (or_introl J2))) as [_ [m [Hm _]]]. fold h in Hm. rewrite Hm. discriminate.
    + destruct (shared R (nver n)) eqn:Shn; [|destruct J]. destruct J as [<-|[]].
      unfold h3. try rewrite Shn. rewrite H2t. fold h in Ht. rewrite Ht. discriminate.
  - intros x Lx. change (c1 :: p' ++ s) with ((c1 :: p') ++ s). apply in_or_app. left. apply Fp. lia.
  - intros x J Hx. change (c :: p ++ t :: s) with ((c :: p) ++ t :: s) in J.
    change (c1 :: p' ++ s) with ((c1 :: p') ++ s).
    apply in_app_or in J as [J|[<-|J]].
    + destruct (Fq x J) as [K|K]; [left; apply in_or_app; left; auto|right; unfold rr; apply in_or_app; left; auto].
    + unfold rr, h3 in *. destruct (shared R (nver n)); [right; apply in_or_app; right; left; auto|].
      exfalso. apply Hx. unfold hfree. rewrite Nat.eqb_refl. auto.
    + left. apply in_or_app. right. auto.
  - destruct LO as [_ [_ [_ [MO _]]]]. apply map_ok_contents in MO. rewrite Em.
    change (hp st) with h in MO |- *.
    assert (Et : entry h t = (key n, val n)) by (unfold entry; fold h in Ht; rewrite Ht; reflexivity).
    assert (En' : map (entry h3) p' = map (entry h) p).
    { rewrite <- En. apply entries_frame. intros x J. apply H3. intros ->; apply Ntp'; right; auto. }
    assert (Es' : map (entry h3) s = map (entry h) s).
    { apply entries_frame. intros x J. rewrite H3; [auto|intros ->; contradiction]. }
    assert (Eo : map (entry h) (p ++ t :: s) = map (entry h) p ++ (key n, val n) :: map (entry h) s)
      by (rewrite map_app; simpl; rewrite Et; reflexivity).
    assert (Enew : map (entry h3) (p' ++ s) = map (entry h) p ++ map (entry h) s)
      by (rewrite map_app, En', Es'; reflexivity).
    rewrite Eo in MO. rewrite Enew.
    replace (contents h L1 ++ (map (entry h) p ++ map (entry h) s) ++ contents h L2)
      with ((contents h L1 ++ map (entry h) p) ++ (map (entry h) s ++ contents h L2))
      by (rewrite <- !app_assoc; reflexivity).
    replace (contents h L1 ++ (map (entry h) p ++ (key n, val n) :: map (entry h) s) ++ contents h L2)
      with ((contents h L1 ++ map (entry h) p) ++ (key n, val n) :: (map (entry h) s ++ contents h L2)) in MO
      by (rewrite <- !app_assoc; reflexivity).
    eapply map_ok_remove; eauto.
  - destruct LO as [_ [_ [_ [_ RO]]]].
    apply rehash_ok_edit with st (p ++ t :: s); auto.
    + intros nd' rh Q. eapply slot_rehash; eauto.
    + eapply slot_prim_len; eauto.
    + intros nd rh Q. destruct w.
      * specialize (T eq_refl). destruct (RO _ _ Q). lia.
      * apply (nonempty_after_rh st _ L1 (p ++ t :: s) L2 nd rh RO eq_refl); auto.
        destruct p; discriminate.
Qed.

(** ** snapshot, release, reclaim, renormalise *)

Lemma nodup_snd_unique (q : list (nat * nat)) e e' a :
  NoDup (map snd q) -> In (e, a) q -> In (e', a) q -> e = e'.
Proof.
  induction q as [|[x y] q IH]; simpl; intros N I1 I2; [contradiction|]. inversion N as [|? ? Ny Nq]; subst.
  destruct I1 as [E1|I1]; destruct I2 as [E2|I2].
  - congruence.
  - inversion E1; subst. exfalso. apply Ny. apply in_map_iff. exists (e', a); auto.
  - inversion E2; subst. exfalso. apply Ny. apply in_map_iff. exists (e, a); auto.
  - auto.
Qed.

Lemma nodup_snd_filter (q : list (nat * nat)) (g : nat * nat -> bool) :
  NoDup (map snd q) -> NoDup (map snd (filter g q)).
Proof.
  induction q as [|x q IH]; simpl; intros N; auto. inversion N as [|? ? Nx Nq]; subst.
  destruct (g x); simpl; auto. constructor; auto. intros I. apply Nx.
  apply in_map_iff in I as [y [Ey I]]. apply filter_In in I as [I _]. apply in_map_iff. exists y; auto.
Qed.

Lemma snapshot_inv st kv :
  inv st -> view_of (hp st) (live_dirs st) kv ->
  inv (mkSt (hp st) (fresh st) (prim st) (reh st) (S (ver st))
         (mkS (S (ver st)) (live_dirs st) kv :: snaps st) (retq st) (amap st)).
Proof.
  intros I [ls0 [D0 C0]]. destruct (inv_live st I) as [ls [LD [ND [LA [MO RO]]]]].
  pose proof (dirv_det _ _ _ _ D0 LD) as ->.
  constructor; simpl.
  - apply (inv_fresh st I).
  - exists ls. unfold live_ok, live_dirs, newdir in *; simpl. split; [auto|]. split; [auto|].
    split; [|split; auto].
    intros a J. destruct (LA a J) as [L1 [[o [Ho Lo]] N]]. split; auto. split; auto. exists o; split; auto.
  - intros e a J. destruct (inv_retq st I e a J) as [Le [La Na]]. split; [lia|auto].
  - apply (inv_retq_nodup st I).
  - intros s [<-|J].
    + split; [simpl; lia|]. exists ls. split; auto. split; auto.
      intros a K. destruct (LA a K) as [_ [[o [Ho Lo]] N]]. split; [exists o; split; [auto|simpl; lia]|].
      intros e Q. exfalso. apply N. apply in_map_iff. exists (e, a); auto.
    + destruct (inv_snaps st I s J) as [Vs [ls' [D' [C' F']]]]. split; [simpl; lia|].
      exists ls'. auto.
  - intros ls' a D Ha. apply (inv_owned st I ls' a); auto.
Qed.

Lemma release_inv st s1 s s2 :
  inv st -> snaps st = s1 ++ s :: s2 ->
  inv (mkSt (hp st) (fresh st) (prim st) (reh st) (ver st) (s1 ++ s2) (retq st) (amap st)).
Proof.
  intros I E. constructor; simpl.
  - apply (inv_fresh st I).
  - destruct (inv_live st I) as [ls LO]. exists ls. exact LO.
  - apply (inv_retq st I).
  - apply (inv_retq_nodup st I).
  - intros s' J. apply (inv_snaps st I). rewrite E. apply in_app_or in J as [J|J]; apply in_or_app; simpl; auto.
  - intros ls' a D Ha. apply (inv_owned st I ls' a); auto.
Qed.

Lemma existsb_in a l : existsb (Nat.eqb a) l = true <-> In a l.
Proof.
  rewrite existsb_exists. split.
  - intros [x [I E]]. apply Nat.eqb_eq in E; subst; auto.
  - intros I. exists a; split; auto. apply Nat.eqb_refl.
Qed.

Lemma existsb_notin a l : ~ In a l -> existsb (Nat.eqb a) l = false.
Proof. intros N. destruct (existsb (Nat.eqb a) l) eqn:E; auto. apply existsb_in in E; contradiction. Qed.

Lemma reclaim_inv R O st :
  bounds_ok st R O -> inv st ->
  inv (mkSt (free_all (hp st) (reclaimed O (retq st))) (fresh st) (prim st) (reh st) (ver st)
         (snaps st) (kept O (retq st)) (amap st)).
Proof.
  intros [C RV] I.
  set (h' := free_all (hp st) (reclaimed O (retq st))).
  assert (Rq : forall a, In a (reclaimed O (retq st)) -> In a (map snd (retq st))).
  { unfold reclaimed. intros a J. apply in_map_iff in J as [[e a'] [Ea J]]. simpl in Ea; subst.
    apply filter_In in J as [J _]. apply in_map_iff. exists (e, a); auto. }
  assert (Kp : forall e a, In (e, a) (kept O (retq st)) -> In (e, a) (retq st))
    by (intros e a J; apply filter_In in J; tauto).
  assert (Fr : forall a, ~ In a (map snd (retq st)) -> h' a = hp st a).
  { intros a N. unfold h', free_all. rewrite existsb_notin; auto. }
  destruct (inv_live st I) as [ls [LD [ND [LA [MO RO]]]]].
  assert (FrL : forall a, In a (footprint (live_dirs st) ls) -> h' a = hp st a)
    by (intros a J; apply Fr; apply LA in J; tauto).
  constructor; simpl.
  - intros a L. unfold h', free_all. destruct (existsb (Nat.eqb a) (reclaimed O (retq st))); auto. apply (inv_fresh st I); auto.
  - exists ls. unfold live_ok, live_dirs, newdir in *; simpl. fold h'.
    split; [apply dirv_frame with (hp st); auto|]. split; [auto|]. split; [|split].
    + intros a J. destruct (LA a J) as [L1 [[o [Ho Lo]] N]]. split; auto. split.
      * exists o; split; auto. rewrite FrL; auto.
      * intros K. apply N. apply in_map_iff in K as [[e a'] [Ea K]]. simpl in Ea; subst.
        apply in_map_iff. exists (e, a). split; auto.
    + rewrite contents_frame with (h := hp st); auto.
      intros a J. apply FrL. unfold footprint. apply in_or_app; auto.
    + exact RO.
  - intros e a J. destruct (inv_retq st I e a (Kp e a J)) as [Le [La Na]]. split; auto. split; auto.
    unfold h', free_all. destruct (existsb (Nat.eqb a) (reclaimed O (retq st))) eqn:Ex; auto.
    exfalso. apply existsb_in in Ex. unfold reclaimed in Ex. apply in_map_iff in Ex as [[e' a'] [Ea K]].
    simpl in Ea; subst a'. apply filter_In in K as [K Lt]. simpl in Lt. apply Nat.ltb_lt in Lt.
    apply filter_In in J as [J Ge]. simpl in Ge. apply Nat.leb_le in Ge.
    assert (e = e') by (apply (nodup_snd_unique (retq st) e e' a); auto; apply (inv_retq_nodup st I)). lia.
  - apply nodup_snd_filter, (inv_retq_nodup st I).
  - intros s J. apply isolation with R O st; simpl; auto.
    + apply (inv_snaps st I); auto.
    + split; simpl.
      * intros a o Ho Lo T. unfold h', free_all. destruct (existsb (Nat.eqb a) _) eqn:Ex; auto.
        apply existsb_in in Ex. unfold reclaimed in Ex. apply in_map_iff in Ex as [[e a'] [Ea K]].
        simpl in Ea; subst. apply filter_In in K as [K Lt]. simpl in Lt. apply Nat.ltb_lt in Lt.
        specialize (T e K). lia.
      * intros e a K. left; apply Kp; auto.
  - intros ls' a D Ha. simpl in D, Ha |- *. fold h' in D, Ha.
    assert (LDh : dirv h' (live_dirs st) ls) by (apply dirv_frame with (hp st); auto).
    pose proof (dirv_det _ _ _ _ D LDh) as ->.
    assert (Nr : ~ In a (reclaimed O (retq st))).
    { intros J. apply Ha. unfold h', free_all. rewrite (proj2 (existsb_in _ _) J). auto. }
    assert (Ha' : hp st a <> None).
    { intros E. apply Ha. unfold h', free_all. destruct (existsb (Nat.eqb a) (reclaimed O (retq st))); auto. }
    destruct (inv_owned st I ls a LD Ha') as [K|K]; [left; auto|right].
    apply in_map_iff in K as [[e a'] [Ea K]]. simpl in Ea; subst a'. apply in_map_iff. exists (e, a).
    split; auto. apply filter_In. split; auto. simpl. apply Nat.leb_le.
    destruct (le_lt_dec O e) as [Le|Lt]; auto. exfalso. apply Nr.
    unfold reclaimed. apply in_map_iff. exists (e, a). split; auto. apply filter_In. split; auto.
    simpl. apply Nat.ltb_lt; auto.
Qed.

Lemma chain_renorm h live dead hd l :
  chain h hd l -> (forall a, In a l -> In a live) -> chain (renorm h live dead) hd l.
Proof.
  induction 1; intros L; [constructor|].
  apply chain_cons with (mkN (key n) (val n) (next n) 0).
  - unfold renorm. rewrite (proj2 (existsb_in a live)); [|apply L; simpl; auto]. rewrite H. auto.
  - apply IHchain. intros; apply L; simpl; auto.
Qed.

Lemma dirv_renorm h live dead d ls :
  dirv h d ls -> (forall a, In a (footprint d ls) -> In a live) -> dirv (renorm h live dead) d ls.
Proof.
  unfold footprint. induction 1; intros L; [constructor|].
  apply dirv_cons with (mkC (head k) 0).
  - unfold renorm. rewrite (proj2 (existsb_in c live)); [|apply L; simpl; auto]. rewrite H. auto.
  - apply chain_renorm; auto. intros a J; apply L. simpl. right. apply in_or_app. right. apply in_or_app; auto.
  - apply IHdirv. intros a J; apply L. simpl. right. apply in_app_or in J as [J|J]; apply in_or_app; auto.
    right. apply in_or_app; auto.
Qed.

Lemma renormalise_inv st ls :
  inv st -> snaps st = [] -> dirv (hp st) (live_dirs st) ls ->
  inv (mkSt (renorm (hp st) (footprint (live_dirs st) ls) (map snd (retq st))) (fresh st)
         (prim st) (reh st) 0 [] [] (amap st)).
Proof.
  intros I Es D0. destruct (inv_live st I) as [ls' [LD [ND [LA [MO RO]]]]].
  pose proof (dirv_det _ _ _ _ D0 LD) as <-.
  set (h' := renorm (hp st) (footprint (live_dirs st) ls) (map snd (retq st))).
  assert (Ent : forall a, In a (footprint (live_dirs st) ls) -> entry h' a = entry (hp st) a).
  { intros a J. unfold entry, h', renorm. rewrite (proj2 (existsb_in _ _) J).
    destruct (hp st a) as [[n|k]|]; reflexivity. }
  constructor; simpl.
  - intros a L. unfold h', renorm.
    destruct (existsb (Nat.eqb a) (footprint _ _)) eqn:E1.
    + apply existsb_in in E1. apply LA in E1. lia.
    + destruct (existsb (Nat.eqb a) (map snd (retq st))); auto. apply (inv_fresh st I); auto.
  - exists ls. unfold live_ok, live_dirs, newdir in *; simpl. fold h'.
    split; [apply dirv_renorm; auto|]. split; [auto|]. split; [|split].
    + intros a J. destruct (LA a J) as [L1 [[o [Ho Lo]] N]]. split; auto. split; [|intros []].
      exists (zero_ver o). unfold h', renorm. rewrite (proj2 (existsb_in _ _) J). rewrite Ho.
      split; auto. destruct o; simpl; auto.
    + unfold contents in *. replace (map (map (entry h')) ls) with (map (map (entry (hp st))) ls); auto.
      apply map_ext_in. intros l J. apply map_ext_in. intros a K. symmetry. apply Ent.
      unfold footprint. apply in_or_app. right. apply in_concat. eauto.
    + intros nd rh Q. apply (RO nd rh Q).
  - intros e a [].
  - constructor.
  - intros s [].
  - intros ls0 a D Ha. simpl in D, Ha |- *. fold h' in D, Ha.
    assert (LDh : dirv h' (live_dirs st) ls) by (apply dirv_renorm; auto).
    pose proof (dirv_det _ _ _ _ D LDh) as ->.
    unfold h', renorm in Ha.
    destruct (existsb (Nat.eqb a) (footprint (live_dirs st) ls)) eqn:E1; [left; apply existsb_in; auto|].
    destruct (existsb (Nat.eqb a) (map snd (retq st))) eqn:E2; [exfalso; apply Ha; auto|].
    exfalso. destruct (inv_owned st I ls a LD Ha) as [K|K]; apply existsb_in in K; congruence.
Qed.

(** ** the incremental rehash: start, advance, finish *)

Lemma footprint_app_perm A B LA LB :
  Permutation (footprint (A ++ B) (LA ++ LB)) (footprint A LA ++ footprint B LB).
Proof.
  unfold footprint. rewrite concat_app. rewrite <- !app_assoc. apply Permutation_app_head.
  rewrite !app_assoc. apply Permutation_app_tail. apply Permutation_app_comm.
Qed.

Lemma footprint_app_in A B LA LB x :
  In x (footprint (A ++ B) (LA ++ LB)) <-> In x (footprint A LA) \/ In x (footprint B LB).
Proof.
  split; intros J.
  - eapply Permutation_in in J; [|apply footprint_app_perm]. apply in_app_or; auto.
  - eapply Permutation_in; [apply Permutation_sym, footprint_app_perm|]. apply in_or_app; auto.
Qed.

Lemma dirv_fresh_chunks h f n V :
  (forall x, f <= x < f + n -> h x = Some (OChunk (mkC None V))) ->
  dirv h (seq f n) (repeat [] n).
Proof.
  revert f. induction n; intros f H; simpl; [constructor|].
  apply dirv_cons with (mkC None V); [apply H; lia|constructor|]. apply IHn. intros; apply H; lia.
Qed.

Lemma concat_repeat_nil n : concat (repeat (@nil nat) n) = [].
Proof. induction n; simpl; auto. Qed.

Lemma contents_repeat h n : contents h (repeat [] n) = [].
Proof. induction n; simpl; auto. Qed.

Lemma rehash_start_inv R O st :
  bounds_ok st R O -> inv st -> reh st = None ->
  inv (mkSt (alloc_chunks (hp st) (fresh st) (2 * length (prim st)) (ver st))
         (fresh st + 2 * length (prim st)) (prim st)
         (Some (seq (fresh st) (2 * length (prim st)), 0)) (ver st) (snaps st) (retq st) (amap st)).
Proof.
  intros [C RV] I Rn. set (n := 2 * length (prim st)). set (f := fresh st).
  set (h' := alloc_chunks (hp st) f n (ver st)).
  assert (Hf : forall x, f <= x -> hp st x = None) by (apply (inv_fresh st I)).
  assert (Old : forall x, x < f -> h' x = hp st x).
  { intros x L. unfold h', alloc_chunks. destruct (f <=? x) eqn:E; simpl; auto.
    apply Nat.leb_le in E; lia. }
  assert (New : forall x, f <= x < f + n -> h' x = Some (OChunk (mkC None (ver st)))).
  { intros x L. unfold h', alloc_chunks. rewrite (proj2 (Nat.leb_le _ _)), (proj2 (Nat.ltb_lt _ _)); auto; lia. }
  destruct (inv_live st I) as [ls [LD [ND [LA [MO RO]]]]].
  unfold live_dirs, newdir in LD, ND, LA. rewrite Rn, app_nil_r in LD, ND, LA.
  assert (QL : forall a, In a (map snd (retq st)) -> a < f).
  { intros a J. apply in_map_iff in J as [[e a'] [Ea J]]. simpl in Ea; subst a'. apply (inv_retq st I) in J. lia. }
  constructor; simpl.
  - intros a L. unfold h', alloc_chunks. rewrite (proj2 (Nat.ltb_ge _ _)); [|lia].
    rewrite andb_false_r. apply Hf. lia.
  - exists (ls ++ repeat [] n). unfold live_ok, live_dirs, newdir; simpl. fold f h'.
    assert (FI : forall a, In a (footprint (prim st) ls) -> a < f) by (intros a J; apply LA in J; lia).
    assert (FS : forall a, In a (footprint (seq f n) (repeat [] n)) -> f <= a < f + n).
    { unfold footprint. intros a J. rewrite concat_repeat_nil, app_nil_r in J. apply in_seq in J. lia. }
    split; [|split; [|split; [|split]]].
    + apply dirv_app2.
      * apply dirv_frame with (hp st); [auto|]. intros a J. apply Old, FI; auto.
      * apply dirv_fresh_chunks with (ver st); auto.
    + eapply Permutation_NoDup; [apply Permutation_sym, footprint_app_perm|].
      apply NoDup_app_iff. split; auto. split.
      * unfold footprint. rewrite concat_repeat_nil, app_nil_r. apply seq_NoDup.
      * intros x J K. apply FI in J. apply FS in K. lia.
    + intros a J. apply footprint_app_in in J as [J|J].
      * destruct (LA a J) as [L [[o [Ho Lo]] N]]. split; [lia|]. split; auto. exists o. rewrite Old; auto.
      * apply FS in J. split; [lia|]. split.
        -- exists (OChunk (mkC None (ver st))). rewrite New; auto.
        -- intros K. apply QL in K. lia.
    + rewrite contents_app, contents_repeat, app_nil_r.
      rewrite contents_frame with (h := hp st); auto. intros a J. apply Old, FI. unfold footprint.
      apply in_or_app; auto.
    + intros nd rh Q. inversion Q; subst. split; [lia|]. intros i Li. lia.
  - intros e a J. destruct (inv_retq st I e a J) as [Le [La Na]]. split; [lia|]. split; [lia|].
    rewrite Old; auto.
  - apply (inv_retq_nodup st I).
  - intros s J. apply isolation with R O st; simpl; auto.
    + apply (inv_snaps st I); auto.
    + apply frame_of_keeps with []; simpl; [|rewrite app_nil_r; auto].
      intros a o Ho Lo. rewrite Old; auto. destruct (le_lt_dec f a) as [L|L]; auto.
      rewrite Hf in Ho; auto. discriminate.
  - intros ls' a D Ha. unfold live_dirs, newdir in D |- *. simpl in D |- *.
    assert (LDh : dirv h' (prim st ++ seq f n) (ls ++ repeat [] n)).
    { apply dirv_app2.
      - apply dirv_frame with (hp st); [auto|]. intros b J. apply Old. apply LA in J. lia.
      - apply dirv_fresh_chunks with (ver st); auto. }
    pose proof (dirv_det _ _ _ _ D LDh) as ->.
    destruct (le_lt_dec f a) as [La|La].
    + left. apply footprint_app_in. right. unfold footprint. rewrite concat_repeat_nil, app_nil_r.
      apply in_seq. split; [lia|]. destruct (le_lt_dec (f + n) a) as [Lb|Lb]; [|lia]. exfalso. apply Ha.
      unfold h', alloc_chunks. rewrite (proj2 (Nat.ltb_ge _ _)); [|lia]. rewrite andb_false_r. apply Hf; lia.
    + rewrite Old in Ha; auto.
      assert (LD0 : dirv (hp st) (live_dirs st) ls) by (unfold live_dirs, newdir; rewrite Rn, app_nil_r; auto).
      destruct (inv_owned st I ls a LD0 Ha) as [K|K]; [|right; auto].
      left. apply footprint_app_in. left. unfold live_dirs, newdir in K. rewrite Rn, app_nil_r in K. auto.
Qed.

Lemma dirv_nth h d ls i c : dirv h d ls -> nth_error d i = Some c ->
  exists k, h c = Some (OChunk k) /\ chain h (head k) (nth i ls []).
Proof.
  intros D. revert i. induction D; intros i E; destruct i; simpl in E; try discriminate.
  - inversion E; subst. simpl. eauto.
  - simpl. apply IHD; auto.
Qed.

Lemma rehash_advance_inv st nd rh c kc :
  inv st -> reh st = Some (nd, rh) -> nth_error (prim st) rh = Some c -> hp st c = Some (OChunk kc) ->
  head kc = None ->
  inv (mkSt (hp st) (fresh st) (prim st) (Some (nd, S rh)) (ver st) (snaps st) (retq st) (amap st)).
Proof.
  intros I Rh Nc Hc Hd. destruct (inv_live st I) as [ls [LD [ND [LA [MO RO]]]]].
  assert (Ld : live_dirs (mkSt (hp st) (fresh st) (prim st) (Some (nd, S rh)) (ver st) (snaps st) (retq st)
                 (amap st)) = live_dirs st) by (unfold live_dirs, newdir; rewrite Rh; auto).
  constructor; simpl.
  - apply (inv_fresh st I).
  - exists ls. unfold live_ok. rewrite Ld. simpl. split; [auto|]. split; [auto|]. split; [auto|]. split; [auto|].
    intros nd' rh' Q. inversion Q; subst nd' rh'. simpl.
    destruct (RO nd rh Rh) as [Lr Z].
    assert (Lt : rh < length (prim st)) by (apply nth_error_Some; congruence).
    split; [lia|]. intros i Li. destruct (Nat.eq_dec i rh) as [->|Ne]; [|apply Z; lia].
    unfold live_dirs, newdir in LD. rewrite Rh in LD. apply dirv_app in LD as [Lp [Ln [-> [Dp [_ Len]]]]].
    destruct (dirv_nth _ _ _ _ _ Dp Nc) as [k [Hk Ck]]. rewrite Hc in Hk. inversion Hk; subst k.
    rewrite Hd in Ck. inversion Ck as [E|]. rewrite app_nth1; [|lia]. auto.
  - apply (inv_retq st I).
  - apply (inv_retq_nodup st I).
  - intros s J. destruct (inv_snaps st I s J) as [Vs R']. split; auto.
  - intros ls' a D Ha. rewrite Ld in D |- *. apply (inv_owned st I ls' a); auto.
Qed.

Lemma concat_all_nil (L : list (list nat)) : (forall i, i < length L -> nth i L [] = []) -> concat L = [].
Proof.
  induction L as [|l L IH]; simpl; intros H; auto.
  rewrite (H 0); [|lia]. simpl. apply IH. intros i Li. apply (H (S i)). lia.
Qed.

Lemma rehash_finish_inv R O st nd rh :
  bounds_ok st R O -> inv st -> reh st = Some (nd, rh) -> rh = length (prim st) ->
  inv (mkSt (free_private R (hp st) (prim st)) (fresh st) nd None (ver st) (snaps st)
         (retq st ++ tag (ver st) (shared_chunks R (hp st) (prim st))) (amap st)).
Proof.
  intros [C RV] I Rh Lr. destruct (inv_live st I) as [ls [LD [ND [LA [MO RO]]]]].
  set (h' := free_private R (hp st) (prim st)).
  unfold live_dirs, newdir in LD, ND, LA. rewrite Rh in LD, ND, LA.
  destruct (RO nd rh Rh) as [_ Z].
  apply dirv_app in LD as [Lp [Ln [-> [Dp [Dn Len]]]]].
  assert (Cp : concat Lp = []).
  { apply concat_all_nil. intros i Li. specialize (Z i ltac:(lia)). rewrite app_nth1 in Z; auto. }
  assert (ND2 := ND). eapply Permutation_NoDup in ND2; [|apply footprint_app_perm].
  apply NoDup_app_iff in ND2 as [_ [NDn Dj]].
  assert (Inp : forall a, In a (prim st) -> In a (footprint (prim st ++ nd) (Lp ++ Ln)))
    by (intros a J; apply footprint_app_in; left; apply in_or_app; auto).
  assert (Inn : forall a, In a (footprint nd Ln) -> In a (footprint (prim st ++ nd) (Lp ++ Ln)))
    by (intros a J; apply footprint_app_in; auto).
  assert (Npn : forall a, In a (footprint nd Ln) -> ~ In a (prim st)).
  { intros a J K. apply (Dj a); auto. unfold footprint. apply in_or_app; auto. }
  assert (Fr : forall a, ~ In a (prim st) -> h' a = hp st a)
    by (intros a N; unfold h', free_private; rewrite existsb_notin; auto).
  assert (Sc : forall a, In a (shared_chunks R (hp st) (prim st)) -> In a (prim st))
    by (intros a J; apply filter_In in J; tauto).
  constructor; simpl.
  - intros a L. unfold h', free_private. destruct (existsb (Nat.eqb a) (prim st)).
    + rewrite (inv_fresh st I a L). auto.
    + apply (inv_fresh st I a L).
  - exists Ln. unfold live_ok, live_dirs, newdir; simpl. rewrite app_nil_r. fold h'.
    split; [apply dirv_frame with (hp st); auto; intros a J; apply Fr, Npn; auto|].
    split; [auto|]. split; [|split].
    + intros a J. destruct (LA a (Inn a J)) as [L [[o [Ho Lo]] N]]. split; auto. split.
      * exists o. rewrite Fr; auto.
      * intros K. rewrite map_app in K. apply in_app_or in K as [K|K]; [contradiction|].
        unfold tag in K. rewrite map_map in K. simpl in K. rewrite map_id in K. apply Sc in K. apply (Npn a J K).
    + rewrite contents_frame with (h := hp st).
      * rewrite contents_app in MO. unfold contents at 1 in MO.
        replace (concat (map (map (entry (hp st))) Lp)) with (@nil (nat * nat)) in MO; auto.
        clear -Cp. induction Lp; simpl in *; auto. apply app_eq_nil in Cp as [-> Cp]. simpl. auto.
      * intros a J. apply Fr, Npn. unfold footprint. apply in_or_app; auto.
    + intros nd' rh' Q; discriminate.
  - intros e a J. apply in_app_or in J as [J|J].
    + destruct (inv_retq st I e a J) as [Le [La Na]]. split; [lia|]. split; [lia|]. rewrite Fr; auto.
      intros K. apply Inp, LA in K as [_ [_ N]]. apply N, (retq_addr _ e a J).
    + apply in_tag in J as [-> J]. assert (J' := J). apply filter_In in J' as [Jp Js].
      split; [lia|]. split; [apply Inp, LA in Jp; lia|]. unfold h', free_private.
      rewrite (proj2 (existsb_in a (prim st)) Jp). destruct (hp st a) as [o|]; [|discriminate].
      rewrite Js. discriminate.
  - rewrite map_app. unfold tag. rewrite map_map. simpl. rewrite map_id.
    apply NoDup_app_iff. split; [apply (inv_retq_nodup st I)|]. split.
    + apply NoDup_filter. unfold footprint in ND. eapply Permutation_NoDup in ND; [|apply footprint_app_perm].
      apply NoDup_app_iff in ND as [ND1 _]. unfold footprint in ND1. apply NoDup_app_iff in ND1. tauto.
    + intros x J K. apply Sc, Inp, LA in K as [_ [_ N]]. contradiction.
  - intros s J. apply isolation with R O st; simpl; auto.
    + apply (inv_snaps st I); auto.
    + apply frame_of_keeps with (shared_chunks R (hp st) (prim st)); simpl; auto.
      intros a o Ho Lo. unfold h', free_private. destruct (existsb _ _); auto. rewrite Ho.
      unfold shared. rewrite (proj2 (Nat.ltb_lt _ _) Lo). auto.
  - intros ls' a D Ha. unfold live_dirs, newdir in D |- *. simpl in D |- *. rewrite app_nil_r in D |- *.
    assert (LDh : dirv h' nd Ln) by (apply dirv_frame with (hp st); auto; intros b J; apply Fr, Npn; auto).
    pose proof (dirv_det _ _ _ _ D LDh) as ->.
    destruct (in_dec Nat.eq_dec a (prim st)) as [J|J].
    + right. rewrite map_app. apply in_or_app. right. unfold tag. rewrite map_map. simpl. rewrite map_id.
      apply filter_In. split; auto. unfold h', free_private in Ha.
      rewrite (proj2 (existsb_in a (prim st)) J) in Ha. destruct (hp st a) as [o|]; [|exfalso; apply Ha; auto].
      destruct (shared R (over o)); auto.
    + rewrite Fr in Ha; auto.
      assert (LD0 : dirv (hp st) (live_dirs st) (Lp ++ Ln))
        by (unfold live_dirs, newdir; rewrite Rh; apply dirv_app2; auto).
      destruct (inv_owned st I (Lp ++ Ln) a LD0 Ha) as [K|K].
      * left. unfold live_dirs, newdir in K. rewrite Rh in K. apply footprint_app_in in K as [K|K]; auto.
        exfalso. unfold footprint in K. rewrite Cp, app_nil_r in K. contradiction.
      * right. rewrite map_app. apply in_or_app. left. auto.
Qed.

(** ** the incremental rehash: migrating the head of old bucket rh *)

Lemma migrate_ok R V h f t n nh h' f' r mv :
  migrate R V h f t n nh = (h', f', r, mv) -> R <= V -> (forall x, f <= x -> h x = None) ->
  h t = Some (ONode n) -> t < f -> nver n <= V ->
  f <= f' /\ (forall x, x < f -> x <> t -> h' x = h x) /\ (forall x, f' <= x -> h' x = None) /\
  keeps R h h' /\ h' mv = Some (ONode (mkN (key n) (val n) nh (if Nat.eqb mv t then nver n else V))) /\
  ((mv = t /\ r = [] /\ f' = f) \/ (mv = f /\ f' = S f /\ r = [t] /\ shared R (nver n) = true)) /\
  (mv = t -> nver n <= V) /\ (r = [t] -> h' t = h t).
Proof.
  intros E RV Hf Ht Lt Vn. unfold migrate in E.
  destruct (opt_eqb (next n) nh) eqn:Q.
  - inversion E; subst; clear E. rewrite Nat.eqb_refl.
    assert (Nx : next n = nh).
    { destruct (next n), nh; simpl in Q; try discriminate; auto. apply Nat.eqb_eq in Q; subst; auto. }
    split; [lia|]. split; [auto|]. split; [auto|]. split; [apply keeps_refl|]. split.
    + rewrite Ht, <- Nx. destruct n; auto.
    + split; [auto|]. split; [auto|]. discriminate.
  - destruct (shared R (nver n)) eqn:Sh; inversion E; subst h' f' r mv; clear E.
    + assert (Hff : h f = None) by (apply Hf; lia).
      split; [lia|]. split; [intros x L N; upd_tac; [lia|auto]|].
      split; [intros x L; upd_tac; [lia|apply Hf; lia]|].
      split; [apply upd_fresh_keeps; auto|].
      split; [unfold upd; rewrite Nat.eqb_refl; destruct (Nat.eqb_spec f t); [lia|auto]|].
      split; [right; auto|]. split; [intros E2; lia|]. intros _. upd_tac; [lia|auto].
    + split; [lia|]. split; [intros x L N; upd_tac; [contradiction|auto]|].
      split; [intros x L; upd_tac; [lia|auto]|].
      split; [apply keeps_upd; intros o Ho; rewrite Ht in Ho; inversion Ho; subst; simpl;
              unfold shared in Sh; apply Nat.ltb_ge in Sh; lia|].
      split; [unfold upd; rewrite Nat.eqb_refl; auto|].
      split; [left; auto|]. split; auto. discriminate.
Qed.

Lemma rehash_migrate_inv R O st nd rh d1 c d2 kc t n h1 f1 r1 c1 e1 c' e2 h2 f2 r2 c2 k2 h3 f3 r3 mv :
  bounds_ok st R O -> inv st ->
  reh st = Some (nd, rh) -> prim st = d1 ++ c :: d2 -> length d1 = rh ->
  hp st c = Some (OChunk kc) -> head kc = Some t -> hp st t = Some (ONode n) ->
  relink R (ver st) (hp st) (fresh st) c [] (next n) = (h1, f1, r1, c1) ->
  nd = e1 ++ c' :: e2 ->
  cfw R (ver st) h1 f1 c' = (h2, f2, r2, c2) -> h2 c2 = Some (OChunk k2) ->
  migrate R (ver st) h2 f2 t n (head k2) = (h3, f3, r3, mv) ->
  inv (mkSt (set_head h3 c2 (Some mv)) f3 (d1 ++ c1 :: d2) (Some (e1 ++ c2 :: e2, rh)) (ver st)
          (snaps st) (retq st ++ tag (ver st) (r1 ++ r2 ++ r3)) (amap st)).
Proof.
  intros B I Rh Ep Lr Hc Hd Ht E1 End E2 Hc2 E3. pose proof B as [C RV].
  destruct (inv_live st I) as [ls [LD [ND [LA [MO RO]]]]].
  set (f := fresh st) in *. set (h := hp st) in *. set (V := ver st) in *.
  assert (Hf : forall x, f <= x -> h x = None) by (apply (inv_fresh st I)).
  assert (Ld : live_dirs st = d1 ++ c :: (d2 ++ nd))
    by (unfold live_dirs, newdir; rewrite Rh, Ep, <- app_assoc; reflexivity).
  rewrite Ld in LD, ND, LA.
  destruct (dirv_split _ _ _ _ _ LD) as [L1 [l [L2 [k [El [DL1 [Hk [Cl [DL2 Len]]]]]]]]].
  subst ls. change (hp st) with h in Hk. rewrite Hc in Hk. inversion Hk; subst k. rewrite Hd in Cl.
  inversion Cl as [|t' n' s Ht' Cs]; subst t' l. change (hp st) with h in Ht. rewrite Ht in Ht'.
  inversion Ht'; subst n'. clear Ht' Cl.
  (* facts of the original structure *)
  assert (NDo := ND). apply footprint_nodup in NDo. apply NoDup_app_iff in NDo as [NDc [_ Dj]].
  inversion NDc as [|xa la Nc NDts]. inversion NDts as [|xb lb Nts NDs].
  assert (InF : forall x, In x (c :: t :: s) -> In x (footprint (d1 ++ c :: d2 ++ nd) (L1 ++ (t :: s) :: L2)))
    by (intros x J; apply footprint_in; auto).
  destruct (LA c (InF c (or_introl eq_refl))) as [Lc [[oc [Hoc Voc]] Nqc]].
  rewrite Hc in Hoc. inversion Hoc; subst oc. simpl in Voc.
  destruct (LA t (InF t (or_intror (or_introl eq_refl)))) as [Lt [[ot [Hot Vot]] Nqt]].
  rewrite Ht in Hot. inversion Hot; subst ot. simpl in Vot.
  assert (Ntc : t <> c) by (intros ->; apply Nc; simpl; auto).
  assert (Sf : forall x, In x s -> x < f) by (intros x J; apply (LA x (InF x (or_intror (or_intror J))))).
  assert (Ncs : ~ In c s) by (intros J; apply Nc; simpl; auto).
  (* step A: unlink t from old bucket rh *)
  destruct (relink_ok R V h f c [] (next n) h1 f1 r1 c1 kc E1 RV Hf Hc Voc Lc (fun J => J)
              (fun a J => match J with end) (NoDup_nil _))
    as [L1f [Fr1 [Fz1 [K1 [p' [k1 [Hc1 [Vk1 [Sg1 [En1 [ND1 [M1 [Mr1 [Vb1 [NDr1 [Fp1 Fq1]]]]]]]]]]]]]]]].
  destruct p' as [|x0 p']; [|discriminate En1].
  assert (Hk1 : head k1 = next n) by (inversion Sg1; auto).
  assert (C1 : c1 = c \/ f <= c1 < f1).
  { destruct (M1 c1 (or_introl eq_refl)) as [[[->|[]] _]|J]; auto. }
  assert (R1 : forall x, In x r1 -> x = c /\ x <> c1).
  { intros x J. destruct (Mr1 x J) as [[->|[]] [N _]]. split; auto. intros ->; apply N; simpl; auto. }
  assert (H1s : forall x, In x s -> h1 x = h x)
    by (intros x J; apply Fr1; [apply Sf; auto| intros ->; contradiction | intros []]).
  assert (H1t : h1 t = h t) by (apply Fr1; auto; intros []).
  assert (Qf : forall a, In a (map snd (retq st)) -> a < f).
  { intros a J. apply in_map_iff in J as [[e a'] [Ea J]]. simpl in Ea; subst a'. apply (inv_retq st I) in J. lia. }
  assert (RestA : forall x, In x (footprint d1 L1 ++ footprint (d2 ++ nd) L2) -> h1 x = h x).
  { intros x J. assert (J' : In x (footprint (d1 ++ c :: d2 ++ nd) (L1 ++ (t :: s) :: L2)))
      by (apply footprint_in; auto).
    apply Fr1; [apply LA in J'; lia | intros ->; apply (Dj c); simpl; auto | intros []]. }
  destruct (edit_live h h1 f f1 V (retq st) r1 [] d1 c (d2 ++ nd) L1 (t :: s) L2 c1 s
              ND LA DL1 DL2 Qf RestA) as [DA [NDA [LAA CtA]]].
  { exists k1. split; auto. rewrite Hk1. apply chain_frame with h; auto. }
  { constructor; auto. intros J. destruct C1 as [->|L]; [contradiction|]. apply Sf in J; lia. }
  { intros x []. }
  { intros x [<-|J]; [destruct C1 as [->|L]; [left; simpl; auto|right; right; lia]|left; simpl; auto]. }
  { intros x [<-|J].
    - exists (OChunk k1). split; auto. simpl; lia.
    - destruct (LA x (InF x (or_intror (or_intror J)))) as [_ [[o [Ho Lo]] _]]. exists o.
      rewrite H1s; auto. }
  { intros x J. destruct (R1 x J) as [-> N]. split; [left; simpl; auto|].
    intros [J2|J2]; [congruence|contradiction]. }
  { lia. }
  (* t is no longer in the live structure *)
  assert (TnA : ~ In t (footprint (d1 ++ c1 :: d2 ++ nd) (L1 ++ s :: L2))).
  { intros J. apply footprint_in in J as [[J|J]|J].
    - destruct C1 as [->|L]; [congruence|lia].
    - contradiction.
    - apply (Dj t); simpl; auto. }
  assert (Cr' : In c' (footprint d1 L1 ++ footprint (d2 ++ nd) L2)).
  { apply in_or_app. right. unfold footprint. apply in_or_app. left. apply in_or_app. right.
    rewrite End. apply in_or_app. right. simpl. auto. }
  assert (Cf' : In c' (footprint (d1 ++ c :: d2 ++ nd) (L1 ++ (t :: s) :: L2)))
    by (apply footprint_in; auto).
  assert (Ncc' : c <> c') by (intros E; rewrite <- E in Cr'; apply (Dj c); simpl; auto).
  (* step B: push onto new bucket *)
  set (DB1 := d1 ++ c1 :: d2 ++ e1).
  assert (LdB : d1 ++ c1 :: d2 ++ nd = DB1 ++ c' :: e2)
    by (subst nd; unfold DB1; rewrite <- !app_assoc; simpl; rewrite <- !app_assoc; reflexivity).
  rewrite LdB in DA, NDA, LAA, TnA.
  destruct (dirv_split _ _ _ _ _ DA) as [Ml [lc [Mr [kc' [EM [DM1 [Hkc' [Clc [DM2 LenM]]]]]]]]].
  rewrite EM in NDA, LAA, TnA.
  assert (NDB := NDA). apply footprint_nodup in NDB. apply NoDup_app_iff in NDB as [NDc' [_ DjB]].
  inversion NDc' as [|xc lcc Nc' NDlc].
  assert (InB : forall x, In x (c' :: lc) -> In x (footprint (DB1 ++ c' :: e2) (Ml ++ lc :: Mr)))
    by (intros x J; apply footprint_in; auto).
  destruct (LAA c' (InB c' (or_introl eq_refl))) as [Lc' [[oc' [Hoc' Voc']] Nqc']].
  rewrite Hkc' in Hoc'. inversion Hoc'; subst oc'. simpl in Voc'.
  destruct (cfw_ok R V h1 f1 c' h2 f2 r2 c2 kc' E2 RV Fz1 Hkc' Voc')
    as [L2f [Fr2 [Fz2 [K2 [cv [Hc2' [Rcv Cs2]]]]]]].
  rewrite Hc2 in Hc2'. inversion Hc2'; subst k2. simpl in E3.
  assert (Tc' : t <> c') by (intros ->; apply TnA, InB; simpl; auto).
  assert (Tlc : ~ In t lc) by (intros J; apply TnA, InB; simpl; auto).
  assert (H2t : h2 t = Some (ONode n)) by (rewrite Fr2, H1t; [auto|lia]).
  destruct (migrate_ok R V h2 f2 t n (head kc') h3 f3 r3 mv E3 RV Fz2 H2t ltac:(lia) Vot)
    as [L3f [Fr3 [Fz3 [K3 [Hmv [Cs3 [_ H3t]]]]]]].
  assert (C2 : (c2 = c' /\ r2 = [] /\ f2 = f1) \/ (c2 = f1 /\ f2 = S f1 /\ r2 = [c'])) by exact Cs2.
  assert (C2lt : c2 < f2) by (destruct C2 as [[-> [_ ->]]|[-> [-> _]]]; lia).
  assert (C2t : c2 <> t) by (destruct C2 as [[-> _]|[-> _]]; [auto|lia]).
  assert (Mvc2 : mv <> c2).
  { destruct Cs3 as [[-> _]|[-> _]]; [auto|lia]. }
  assert (H3c2 : h3 c2 = Some (OChunk (mkC (head kc') cv))) by (rewrite Fr3; auto).
  set (h4 := set_head h3 c2 (Some mv)).
  assert (Hh4 : forall x, x <> c2 -> h4 x = h3 x)
    by (intros x N; unfold h4, set_head; rewrite H3c2; unfold upd; destruct (Nat.eqb_spec x c2); [contradiction|auto]).
  assert (H4c2 : h4 c2 = Some (OChunk (mkC (Some mv) cv)))
    by (unfold h4, set_head; rewrite H3c2; unfold upd; rewrite Nat.eqb_refl; auto).
  assert (Back : forall x, x < f1 -> x <> c2 -> x <> t -> h4 x = h1 x).
  { intros x L N1 N2. rewrite Hh4, Fr3, Fr2; auto; lia. }
  assert (Lfp : forall x, In x (footprint (DB1 ++ c' :: e2) (Ml ++ lc :: Mr)) -> x < f1)
    by (intros x J; apply LAA in J; lia).
  assert (Mvlc : ~ In mv lc).
  { destruct Cs3 as [[-> _]|[-> _]]; auto. intros J. pose proof (Lfp f2 (InB f2 (or_intror J))). lia. }
  assert (C2lc : ~ In c2 lc).
  { destruct C2 as [[-> _]|[-> _]]; auto. intros J. pose proof (Lfp f1 (InB f1 (or_intror J))). lia. }
  assert (H4lc : forall x, In x lc -> h4 x = h1 x).
  { intros x J. apply Back; [apply Lfp, InB; simpl; auto | intros ->; contradiction | intros ->; contradiction]. }
  assert (RestB : forall x, In x (footprint DB1 Ml ++ footprint e2 Mr) -> h4 x = h1 x).
  { intros x J. assert (J' : In x (footprint (DB1 ++ c' :: e2) (Ml ++ lc :: Mr))) by (apply footprint_in; auto).
    apply Back; [apply Lfp; auto| |].
    - intros ->. destruct C2 as [[-> _]|[-> _]]; [apply (DjB c'); simpl; auto|]. apply Lfp in J'; lia.
    - intros ->. contradiction. }
  assert (QfB : forall a, In a (map snd (retq st ++ tag V r1)) -> a < f1).
  { intros a J. rewrite map_app in J. apply in_app_or in J as [J|J]; [apply Qf in J; lia|].
    unfold tag in J. rewrite map_map in J. simpl in J. rewrite map_id in J. apply R1 in J as [-> _]. lia. }
  destruct (edit_live h1 h4 f1 f3 V (retq st ++ tag V r1) (r2 ++ r3) [t] DB1 c' e2 Ml lc Mr c2 (mv :: lc)
              NDA LAA DM1 DM2 QfB RestB) as [DB [NDB' [LAB CtB]]].
  { exists (mkC (Some mv) cv). split; auto. simpl.
    apply chain_cons with (mkN (key n) (val n) (head kc') (if Nat.eqb mv t then nver n else V)).
    - rewrite Hh4; auto.
    - simpl. apply chain_frame with h1; auto. }
  { constructor; [intros [J|J]; [congruence|contradiction]|constructor; auto]. }
  { intros x [<-|[]]. split; [lia|]. split; auto. intros J. rewrite map_app in J.
    apply in_app_or in J as [J|J]; [contradiction|].
    unfold tag in J. rewrite map_map in J. simpl in J. rewrite map_id in J. apply R1 in J as [-> _]. auto. }
  { intros x [<-|[<-|J]].
    - destruct C2 as [[-> _]|[-> [-> _]]]; [left; simpl; auto|right; right; lia].
    - destruct Cs3 as [[-> _]|[-> [-> _]]]; [right; left; simpl; auto|right; right; lia].
    - left; simpl; auto. }
  { intros x [<-|[<-|J]].
    - exists (OChunk (mkC (Some mv) cv)). split; auto. simpl; lia.
    - exists (ONode (mkN (key n) (val n) (head kc') (if Nat.eqb mv t then nver n else V))).
      split; [rewrite Hh4; auto|]. simpl. destruct (Nat.eqb mv t); lia.
    - destruct (LAA x (InB x (or_intror J))) as [_ [[o [Ho Lo]] _]]. exists o. rewrite H4lc; auto. }
  { intros x J. apply in_app_or in J as [J|J].
    - destruct C2 as [[_ [-> _]]|[-> [_ ->]]]; [destruct J|]. destruct J as [<-|[]].
      split; [left; simpl; auto|]. intros [J|[J|J]]; [lia| |contradiction].
      destruct Cs3 as [[-> _]|[-> _]]; [congruence|lia].
    - destruct Cs3 as [[_ [-> _]]|[-> [_ [-> _]]]]; [destruct J|]. destruct J as [<-|[]].
      split; [right; simpl; auto|]. intros [J|[J|J]]; [congruence|lia|contradiction]. }
  { lia. }
  (* the new state *)
  assert (Ld' : live_dirs (mkSt h4 f3 (d1 ++ c1 :: d2) (Some (e1 ++ c2 :: e2, rh)) V (snaps st)
                  (retq st ++ tag V (r1 ++ r2 ++ r3)) (amap st)) = DB1 ++ c2 :: e2)
    by (unfold live_dirs, newdir, DB1; simpl; rewrite <- !app_assoc; simpl; try rewrite <- !app_assoc; reflexivity).
  assert (Eq' : retq st ++ tag V (r1 ++ r2 ++ r3) = (retq st ++ tag V r1) ++ tag V (r2 ++ r3))
    by (unfold tag; rewrite map_app, app_assoc; reflexivity).
  constructor; simpl.
  - intros x L. rewrite Hh4; [apply Fz3; lia|lia].
  - exists (Ml ++ (mv :: lc) :: Mr). unfold live_ok. rewrite Ld'. simpl. rewrite Eq'.
    split; [exact DB|]. split; [exact NDB'|]. split; [exact LAB|]. split.
    + rewrite CtB.
      assert (Emv : entry h4 mv = (key n, val n)) by (unfold entry; rewrite Hh4, Hmv; auto).
      simpl map. rewrite Emv, (entries_frame h1 h4 lc H4lc).
      assert (EX : contents h1 Ml ++ map (entry h1) lc ++ contents h1 Mr
                   = contents h L1 ++ map (entry h) s ++ contents h L2).
      { rewrite <- (entries_frame h h1 s H1s). rewrite <- CtA, EM. rewrite contents_app. reflexivity. }
      change (hp st) with h in MO. rewrite contents_app in MO.
      assert (EMO : contents h ((t :: s) :: L2) = (key n, val n) :: map (entry h) s ++ contents h L2)
        by (unfold contents; simpl; unfold entry at 1; rewrite Ht; reflexivity).
      rewrite EMO in MO.
      apply map_ok_perm with (kv := contents h L1 ++ (key n, val n) :: map (entry h) s ++ contents h L2); auto.
      eapply Permutation_trans; [apply Permutation_sym, Permutation_middle|]. rewrite <- EX.
      apply Permutation_middle.
    + intros nd' rh' Q. simpl in Q. inversion Q; subst nd' rh'. simpl.
      destruct (RO nd rh Rh) as [Lrp Z].
      split; [rewrite Ep in Lrp; rewrite !app_length in *; simpl in *; lia|].
      intros i Li.
      assert (LM : length Ml = length DB1) by exact LenM.
      assert (LDB : length d1 < length DB1) by (unfold DB1; rewrite app_length; simpl; lia).
      rewrite app_nth1; [|lia].
      assert (Z' := Z i Li). rewrite app_nth1 in Z'; [|lia].
      assert (E' : nth i (Ml ++ lc :: Mr) [] = nth i (L1 ++ s :: L2) []) by (rewrite EM; auto).
      rewrite app_nth1 in E'; [|lia]. rewrite app_nth1 in E'; [|lia]. rewrite E'. exact Z'.
  - intros e a J. apply in_app_or in J as [J|J].
    + destruct (inv_retq st I e a J) as [Le [La Na]]. fold f in La. split; [lia|]. split; [lia|].
      assert (Nl : ~ In a (footprint (d1 ++ c :: d2 ++ nd) (L1 ++ (t :: s) :: L2))).
      { intros K. apply LA in K as [_ [_ N]]. apply N, (retq_addr _ e a J). }
      assert (Nc0 : a <> c) by (intros ->; apply Nl, InF; simpl; auto).
      assert (Nt0 : a <> t) by (intros ->; apply Nl, InF; simpl; auto).
      assert (Nc2 : a <> c2).
      { destruct C2 as [[-> _]|[-> _]]; [|lia]. intros ->. apply Nl, Cf'. }
      rewrite Back; [|lia|auto|auto]. rewrite Fr1; [exact Na|lia|auto|intros []].
    + apply in_tag in J as [-> J]. split; [lia|].
      apply in_app_or in J as [J|J].
      * destruct (R1 a J) as [-> Nc1']. destruct (Mr1 c J) as [_ [_ E1']]. split; [lia|].
        rewrite Back, E1', Hc; [discriminate|lia| |auto].
        destruct C2 as [[-> _]|[-> _]]; [exact Ncc'|lia].
      * apply in_app_or in J as [J|J].
        -- destruct C2 as [[Ec2 [-> _]]|[Ec2 [_ ->]]]; [destruct J|]. destruct J as [<-|[]].
           split; [lia|]. rewrite Back, Hkc'; [discriminate|lia|lia|auto].
        -- destruct Cs3 as [[_ [-> _]]|[_ [_ [Er3 _]]]]; [destruct J|]. rewrite Er3 in J.
           destruct J as [<-|[]]. split; [lia|].
           rewrite Hh4, H3t, H2t; [discriminate|auto|auto].
  - rewrite map_app. unfold tag. rewrite map_map. simpl. rewrite map_id.
    assert (Rall : forall x, In x (r1 ++ r2 ++ r3) -> x = c \/ x = c' \/ x = t).
    { intros x J. apply in_app_or in J as [J|J]; [left; apply R1 in J; tauto|].
      apply in_app_or in J as [J|J].
      - destruct C2 as [[_ [-> _]]|[_ [_ ->]]]; [destruct J|]. destruct J as [<-|[]]. auto.
      - destruct Cs3 as [[_ [-> _]]|[_ [_ [-> _]]]]; [destruct J|]. destruct J as [<-|[]]. auto. }
    assert (NDall : NoDup (r1 ++ r2 ++ r3)).
    { assert (Sh1 : r1 = [] \/ r1 = [c]).
      { destruct r1 as [|x [|y r1']]; auto.
        - right. f_equal. destruct (R1 x (or_introl eq_refl)); auto.
        - exfalso. inversion NDr1 as [|? ? Nx _]. apply Nx. left.
          destruct (R1 x (or_introl eq_refl)) as [-> _]. destruct (R1 y (or_intror (or_introl eq_refl))); auto. }
      destruct Sh1 as [-> | ->]; destruct C2 as [[_ [-> _]]|[_ [_ ->]]];
        destruct Cs3 as [[_ [-> _]]|[_ [_ [-> _]]]]; simpl; repeat constructor; simpl; intuition congruence. }
    apply NoDup_app_iff. split; [apply (inv_retq_nodup st I)|]. split; [exact NDall|].
    intros x J K. apply Rall in K.
    assert (Kf : In x (footprint (d1 ++ c :: d2 ++ nd) (L1 ++ (t :: s) :: L2)))
      by (destruct K as [->|[->| ->]]; [apply InF; simpl; auto|apply Cf'|apply InF; simpl; auto]).
    apply LA in Kf as [_ [_ N]]. contradiction.
  - intros s0 J. apply isolation with R O st; simpl; auto.
    + apply (inv_snaps st I); auto.
    + apply frame_of_keeps with (r1 ++ r2 ++ r3); simpl; auto.
      apply keeps_trans with h1; auto. apply keeps_trans with h2; auto. apply keeps_trans with h3; auto.
      unfold h4, set_head. rewrite H3c2. apply keeps_upd. intros o Ho. rewrite H3c2 in Ho.
      inversion Ho; subst; simpl; lia.
  - intros ls' a D Ha. simpl in D, Ha |- *. rewrite Ld' in D |- *. pose proof (dirv_det _ _ _ _ D DB) as ->.
    assert (ToA : forall x, In x (c1 :: s) \/ In x (footprint d1 L1 ++ footprint (d2 ++ nd) L2) ->
                            In x (footprint (DB1 ++ c' :: e2) (Ml ++ lc :: Mr))).
    { intros x J. rewrite <- LdB, <- EM. apply footprint_in. auto. }
    assert (FA : forall x, In x (footprint (DB1 ++ c' :: e2) (Ml ++ lc :: Mr)) ->
                 In x (footprint (DB1 ++ c2 :: e2) (Ml ++ (mv :: lc) :: Mr)) \/ In x r2).
    { intros x J. apply footprint_in in J as [[<-|J]|J].
      - destruct C2 as [[-> [-> _]]|[-> [_ ->]]]; [left; apply footprint_in; left; left; auto | right; left; auto].
      - left. apply footprint_in. left. right. right. auto.
      - left. apply footprint_in. right. auto. }
    assert (InR : forall x, In x r1 \/ In x r2 \/ In x r3 ->
                  In x (map snd (retq st ++ tag V (r1 ++ r2 ++ r3)))).
    { intros x J. rewrite map_app. apply in_or_app. right. unfold tag. rewrite map_map. simpl. rewrite map_id.
      destruct J as [J|[J|J]]; apply in_or_app; auto; right; apply in_or_app; auto. }
    assert (Gen : forall x, In x (footprint (DB1 ++ c' :: e2) (Ml ++ lc :: Mr)) ->
                  In x (footprint (DB1 ++ c2 :: e2) (Ml ++ (mv :: lc) :: Mr)) \/
                  In x (map snd (retq st ++ tag V (r1 ++ r2 ++ r3)))).
    { intros x J. destruct (FA x J) as [K|K]; [left; exact K|right; apply InR; auto]. }
    destruct (le_lt_dec f3 a) as [La3|La3].
    { exfalso. apply Ha. rewrite Hh4; [apply Fz3; lia|lia]. }
    destruct (le_lt_dec f2 a) as [La2|La2].
    { left. apply footprint_in. left. right. left. destruct Cs3 as [[-> [_ ->]]|[-> [-> _]]]; lia. }
    destruct (le_lt_dec f1 a) as [La1|La1].
    { left. apply footprint_in. left. left. destruct C2 as [[-> [_ ->]]|[-> [-> _]]]; lia. }
    destruct (le_lt_dec f a) as [La0|La0].
    { apply Gen, ToA. left. destruct (Fp1 a ltac:(lia)) as [<-|[]]. left; auto. }
    destruct (Nat.eq_dec a c) as [->|Nac].
    { destruct (Fq1 c (or_introl eq_refl)) as [[<-|[]]|K]; [apply Gen, ToA; left; left; auto | right; apply InR; auto]. }
    destruct (Nat.eq_dec a t) as [->|Nta].
    { destruct Cs3 as [[-> _]|[_ [_ [-> _]]]];
        [left; apply footprint_in; left; right; left; auto | right; apply InR; right; right; left; auto]. }
    destruct (Nat.eq_dec a c') as [->|Nac'].
    { apply Gen, ToA. right. exact Cr'. }
    assert (Ea : h4 a = h a).
    { rewrite Back; [|lia| |auto].
      - apply Fr1; [lia|auto|intros []].
      - destruct C2 as [[-> _]|[-> _]]; [auto|lia]. }
    rewrite Ea in Ha.
    assert (LD0 : dirv (hp st) (live_dirs st) (L1 ++ (t :: s) :: L2)) by (rewrite Ld; exact LD).
    destruct (inv_owned st I _ a LD0 Ha) as [K|K].
    + rewrite Ld in K. apply footprint_in in K as [[E'|[E'|K]]|K]; [congruence|congruence| |].
      * apply Gen, ToA. left. right. auto.
      * apply Gen, ToA. right. auto.
    + right. rewrite map_app. apply in_or_app. left. auto.
Qed.
