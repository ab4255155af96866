// Stub written by this project (not Flink code): only what the seed's CopyOnWriteStateTable needs. See
// docs/PORTING.md, "The seed's Java as a port".
package org.apache.flink.runtime.state;

public interface StateTransformationFunction<S, T> {
	S apply(S previousState, T value) throws Exception;
}
