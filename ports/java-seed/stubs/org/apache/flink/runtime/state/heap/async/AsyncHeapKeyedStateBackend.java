// Stub written by this project (not Flink code): only what the seed's CopyOnWriteStateTable needs. See
// docs/PORTING.md, "The seed's Java as a port".
package org.apache.flink.runtime.state.heap.async;

/** Only named by the seed's logger declaration. */
final class AsyncHeapKeyedStateBackend {
	private AsyncHeapKeyedStateBackend() {}
}
