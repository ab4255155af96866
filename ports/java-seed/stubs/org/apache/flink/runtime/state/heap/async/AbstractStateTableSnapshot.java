// Stub written by this project (not Flink code): only what the seed's CopyOnWriteStateTable needs. See
// docs/PORTING.md, "The seed's Java as a port".
package org.apache.flink.runtime.state.heap.async;

import org.apache.flink.util.Preconditions;

/** The base of the seed's snapshot (the file is not part of the seed's mail): it holds the owning table. */
abstract class AbstractStateTableSnapshot<K, N, S, T extends StateTable<K, N, S>> implements StateTableSnapshot {
	protected final T owningStateTable;

	AbstractStateTableSnapshot(T owningStateTable) {
		this.owningStateTable = Preconditions.checkNotNull(owningStateTable);
	}

	@Override
	public void release() {
	}
}
