// Stub written by this project (not Flink code): only what the seed's CopyOnWriteStateTable needs. See
// docs/PORTING.md, "The seed's Java as a port".
package org.slf4j;

/** Loggers that write warnings to stderr (the conform kit keeps the child's stderr for its error messages). */
public final class LoggerFactory {
	private LoggerFactory() {}

	public static Logger getLogger(Class<?> clazz) {
		return message -> System.err.println("WARN " + clazz.getSimpleName() + ": " + message);
	}
}
