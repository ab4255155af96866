// Stub written by this project (not Flink code): only what the seed's CopyOnWriteStateTable needs. See
// docs/PORTING.md, "The seed's Java as a port".
package org.apache.flink.util;

public final class Preconditions {
	private Preconditions() {}

	public static <T> T checkNotNull(T reference) {
		if (reference == null) {
			throw new NullPointerException();
		}
		return reference;
	}

	public static <T> T checkNotNull(T reference, Object message) {
		if (reference == null) {
			throw new NullPointerException(String.valueOf(message));
		}
		return reference;
	}

	public static void checkState(boolean condition) {
		if (!condition) {
			throw new IllegalStateException();
		}
	}

	public static void checkState(boolean condition, Object message) {
		if (!condition) {
			throw new IllegalStateException(String.valueOf(message));
		}
	}

	public static void checkArgument(boolean condition, Object message) {
		if (!condition) {
			throw new IllegalArgumentException(String.valueOf(message));
		}
	}
}
