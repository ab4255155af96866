// Stub written by this project (not Flink code): only what the seed's CopyOnWriteStateTable needs. See
// docs/PORTING.md, "The seed's Java as a port".
package org.apache.flink.runtime.state;

import org.apache.flink.api.common.typeutils.TypeSerializer;

public class RegisteredBackendStateMetaInfo<N, S> {
	private final TypeSerializer<N> namespaceSerializer;
	private final TypeSerializer<S> stateSerializer;

	public RegisteredBackendStateMetaInfo(TypeSerializer<N> namespaceSerializer, TypeSerializer<S> stateSerializer) {
		this.namespaceSerializer = namespaceSerializer;
		this.stateSerializer = stateSerializer;
	}

	public TypeSerializer<N> getNamespaceSerializer() {
		return namespaceSerializer;
	}

	public TypeSerializer<S> getStateSerializer() {
		return stateSerializer;
	}
}
