// Stub written by this project (not Flink code): only what the seed's CopyOnWriteStateTable needs. See
// docs/PORTING.md, "The seed's Java as a port".
package org.apache.flink.runtime.state;

import org.apache.flink.util.MathUtils;

public final class KeyGroupRangeAssignment {
	private KeyGroupRangeAssignment() {}

	/** Flink's rule (docs/PORTING.md §7): murmur of the key's hashCode, modulo the maximum parallelism. */
	public static int computeKeyGroupForKeyHash(int keyHash, int maxParallelism) {
		return MathUtils.murmurHash(keyHash) % maxParallelism;
	}
}
