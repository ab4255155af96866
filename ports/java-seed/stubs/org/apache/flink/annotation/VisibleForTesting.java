// Stub written by this project (not Flink code): only what the seed's CopyOnWriteStateTable needs. See
// docs/PORTING.md, "The seed's Java as a port".
package org.apache.flink.annotation;

public @interface VisibleForTesting {}
