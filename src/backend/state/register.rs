//! Registration of every state kind, in one place as in Flink (`HeapKeyedStateBackend.createInternalState`,
//! which looks the descriptor's kind up in its `STATE_FACTORIES` and calls the kind's `create`). Each
//! `register_*` takes its descriptor apart into the serializers and the kind's extra data; `register_handle` does
//! the rest, once for all kinds.
#![allow(deprecated)]

use super::handle::{Handle, Kind, Plain};
use super::list::ListExtra;
use super::map::MapExtra;
use super::{
    AggregatingState, AggregatingStateDescriptor, FoldingState, FoldingStateDescriptor, ListState, ListStateDescriptor,
    MapState, MapStateDescriptor, ReducingState, ReducingStateDescriptor, StateHasher, StateKey, StateType, ValueState,
    ValueStateDescriptor,
};
use crate::backend::stream::StateKind;
use crate::backend::{BackendError, KeyedStateBackend};
use crate::serializer::{ListSerializer, MapSerializer, TypeSerializer};
use crate::sync::Primitives;
use core::hash::Hash;

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// Registers a state (or finds the one of that name, B2) and returns a handle on the default namespace.
    pub(crate) fn register_handle<N, M, NS, SS>(
        &mut self,
        name: String,
        kind: StateKind,
        namespace: NS,
        state: SS,
        extra: M::Extra,
    ) -> Result<Handle<N, M>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        M: Kind,
        NS: TypeSerializer<Value = N> + StateType,
        SS: TypeSerializer<Value = M::State> + StateType,
    {
        let core = self.register::<N, M::State, NS, SS, M::Extra>(name, kind, namespace, state, || extra)?;
        Ok(Handle::new(core))
    }

    /// Registers a value state, or returns the one already registered under the descriptor's name (B2).
    pub fn register_value<N, V, NS, VS>(
        &mut self,
        descriptor: ValueStateDescriptor<NS, VS>,
    ) -> Result<ValueState<N, V>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        V: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        VS: TypeSerializer<Value = V> + StateType,
    {
        let d = descriptor;
        let extra = Plain::new(&d.value_serializer, d.default);
        let handle = self.register_handle(
            d.name,
            StateKind::Value,
            d.namespace_serializer,
            d.value_serializer,
            extra,
        )?;
        Ok(ValueState { handle })
    }

    /// Registers a list state, or returns the one already registered under the descriptor's name (B2).
    pub fn register_list<N, V, NS, ES>(
        &mut self,
        descriptor: ListStateDescriptor<NS, ES>,
    ) -> Result<ListState<N, V>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        V: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        ES: TypeSerializer<Value = V> + StateType,
    {
        let d = descriptor;
        let extra = ListExtra::new(&d.element_serializer);
        let state = ListSerializer(d.element_serializer);
        let handle = self.register_handle(d.name, StateKind::List, d.namespace_serializer, state, extra)?;
        Ok(ListState { handle })
    }

    /// Registers a reducing state, or returns the one already registered under the descriptor's name (B2; the
    /// first registration's reduce function stays).
    pub fn register_reducing<N, V, NS, VS>(
        &mut self,
        descriptor: ReducingStateDescriptor<NS, VS>,
    ) -> Result<ReducingState<N, V>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        V: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        VS: TypeSerializer<Value = V> + StateType,
    {
        let d = descriptor;
        let extra = Plain::new(&d.value_serializer, d.reduce);
        let handle = self.register_handle(
            d.name,
            StateKind::Reducing,
            d.namespace_serializer,
            d.value_serializer,
            extra,
        )?;
        Ok(ReducingState { handle })
    }

    /// Registers a folding state, or returns the one already registered under the descriptor's name (B2).
    #[deprecated(note = "as in Flink: use register_aggregating instead")]
    pub fn register_folding<N, T, ACC, NS, AS>(
        &mut self,
        descriptor: FoldingStateDescriptor<NS, T, AS>,
    ) -> Result<FoldingState<N, T, ACC>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        T: 'static,
        ACC: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        AS: TypeSerializer<Value = ACC> + StateType,
    {
        let d = descriptor;
        let extra = Plain::new(&d.accumulator_serializer, (d.initial, d.fold));
        let handle = self.register_handle(
            d.name,
            StateKind::Folding,
            d.namespace_serializer,
            d.accumulator_serializer,
            extra,
        )?;
        Ok(FoldingState { handle })
    }

    /// Registers an aggregating state, or returns the one already registered under the descriptor's name (B2).
    pub fn register_aggregating<N, IN, ACC, OUT, NS, AS>(
        &mut self,
        descriptor: AggregatingStateDescriptor<NS, IN, AS, OUT>,
    ) -> Result<AggregatingState<N, IN, ACC, OUT>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        IN: 'static,
        ACC: StateType,
        OUT: 'static,
        NS: TypeSerializer<Value = N> + StateType,
        AS: TypeSerializer<Value = ACC> + StateType,
    {
        let d = descriptor;
        let extra = Plain::new(&d.accumulator_serializer, d.function);
        let kind = StateKind::Aggregating;
        let handle = self.register_handle(d.name, kind, d.namespace_serializer, d.accumulator_serializer, extra)?;
        Ok(AggregatingState { handle })
    }

    /// Registers a map state, or returns the one already registered under the descriptor's name (B2).
    pub fn register_map<N, UK, UV, NS, UKS, UVS>(
        &mut self,
        descriptor: MapStateDescriptor<NS, UKS, UVS>,
    ) -> Result<MapState<N, UK, UV>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        UK: Hash + Eq + StateType,
        UV: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        UKS: TypeSerializer<Value = UK> + StateType,
        UVS: TypeSerializer<Value = UV> + StateType,
    {
        let d = descriptor;
        let extra = MapExtra::new(&d.key_serializer, &d.value_serializer);
        let state = MapSerializer(d.key_serializer, d.value_serializer);
        let handle = self.register_handle(d.name, StateKind::Map, d.namespace_serializer, state, extra)?;
        Ok(MapState { handle })
    }
}
