// Stub written by this project (not Flink code): only what the seed's CopyOnWriteStateTable needs. See
// docs/PORTING.md, "The seed's Java as a port".
package org.apache.flink.api.common.typeutils;

import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;

/** The two methods the seed calls: a copy for copy-on-write of states, and writing a value. */
public abstract class TypeSerializer<T> {
	public abstract T copy(T from);

	public abstract void serialize(T record, DataOutputView target) throws IOException;
}
