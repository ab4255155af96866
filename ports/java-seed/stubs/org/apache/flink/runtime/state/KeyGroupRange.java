// Stub written by this project (not Flink code): only what the seed's CopyOnWriteStateTable needs. See
// docs/PORTING.md, "The seed's Java as a port".
package org.apache.flink.runtime.state;

/** Key groups start..end, both inclusive. */
public class KeyGroupRange {
	private final int startKeyGroup;
	private final int endKeyGroup;

	public KeyGroupRange(int startKeyGroup, int endKeyGroup) {
		this.startKeyGroup = startKeyGroup;
		this.endKeyGroup = endKeyGroup;
	}

	public int getStartKeyGroup() {
		return startKeyGroup;
	}

	public int getEndKeyGroup() {
		return endKeyGroup;
	}

	public int getNumberOfKeyGroups() {
		return 1 + endKeyGroup - startKeyGroup;
	}
}
