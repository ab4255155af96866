// Written by this project (not Flink code): the conform protocol (docs/PORTING.md §10) served by the seed's own
// CopyOnWriteStateTable, extracted from the seed at build time by build.sh. See docs/PORTING.md, "The seed's Java
// as a port", for what this adapter does beyond calling the seed, and why.
package org.apache.flink.runtime.state.heap.async;

import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.RegisteredBackendStateMetaInfo;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

public final class Adapter {

	/**
	 * A state: a mutable cell, so that `get_mut` changes the state object the seed hands out, as Flink's user
	 * code does, and the seed's copy-on-write of states (TypeSerializer.copy) is what keeps snapshots intact.
	 */
	static final class Cell {
		long v;

		Cell(long v) {
			this.v = v;
		}
	}

	static final TypeSerializer<Long> KEYS = new TypeSerializer<Long>() {
		@Override
		public Long copy(Long from) {
			return from;
		}

		@Override
		public void serialize(Long record, DataOutputView target) throws IOException {
			target.writeLong(record);
		}
	};

	static final TypeSerializer<Integer> NAMESPACES = new TypeSerializer<Integer>() {
		@Override
		public Integer copy(Integer from) {
			return from;
		}

		@Override
		public void serialize(Integer record, DataOutputView target) throws IOException {
			target.writeInt(record);
		}
	};

	static final TypeSerializer<Cell> STATES = new TypeSerializer<Cell>() {
		@Override
		public Cell copy(Cell from) {
			return from == null ? null : new Cell(from.v);
		}

		@Override
		public void serialize(Cell record, DataOutputView target) throws IOException {
			target.writeLong(record.v);
		}
	};

	/** The key context: keys are given per call; the maximum parallelism is set per snapshot request. */
	static final class Context implements InternalKeyContext<Long> {
		int maxParallelism = 128;

		@Override
		public Long getCurrentKey() {
			throw new UnsupportedOperationException("the adapter passes keys explicitly");
		}

		@Override
		public int getCurrentKeyGroupIndex() {
			throw new UnsupportedOperationException("the adapter passes keys explicitly");
		}

		@Override
		public int getNumberOfKeyGroups() {
			return maxParallelism;
		}

		@Override
		public KeyGroupRange getKeyGroupRange() {
			return new KeyGroupRange(0, maxParallelism - 1);
		}

		@Override
		public TypeSerializer<Long> getKeySerializer() {
			return KEYS;
		}
	}

	static final class Bytes extends DataOutputStream implements DataOutputView {
		Bytes() {
			super(new ByteArrayOutputStream());
		}

		byte[] bytes() {
			return ((ByteArrayOutputStream) out).toByteArray();
		}
	}

	/** A snapshot slot: the seed's snapshot object, and the bucket array it took (see rearm). */
	static final class Slot {
		final CopyOnWriteStateTableSnapshot<Long, Integer, Cell> snapshot;
		final CopyOnWriteStateTable.StateTableEntry<Long, Integer, Cell>[] taken;

		Slot(CopyOnWriteStateTableSnapshot<Long, Integer, Cell> snapshot,
				CopyOnWriteStateTable.StateTableEntry<Long, Integer, Cell>[] taken) {
			this.snapshot = snapshot;
			this.taken = taken;
		}
	}

	static final Constructor<?> TABLE_WITH_CAPACITY;
	static final Field SNAPSHOT_DATA;
	static final Field KEY_GROUP_OFFSETS;
	static final Field PRIMARY_TABLE;
	static final Field REHASH_TABLE;
	static final Field SNAPSHOT_VERSIONS;

	static {
		try {
			TABLE_WITH_CAPACITY = CopyOnWriteStateTable.class.getDeclaredConstructor(
					InternalKeyContext.class, RegisteredBackendStateMetaInfo.class, int.class);
			TABLE_WITH_CAPACITY.setAccessible(true);
			SNAPSHOT_DATA = CopyOnWriteStateTableSnapshot.class.getDeclaredField("snapshotData");
			SNAPSHOT_DATA.setAccessible(true);
			KEY_GROUP_OFFSETS = CopyOnWriteStateTableSnapshot.class.getDeclaredField("keyGroupOffsets");
			KEY_GROUP_OFFSETS.setAccessible(true);
			PRIMARY_TABLE = CopyOnWriteStateTable.class.getDeclaredField("primaryTable");
			PRIMARY_TABLE.setAccessible(true);
			REHASH_TABLE = CopyOnWriteStateTable.class.getDeclaredField("incrementalRehashTable");
			REHASH_TABLE.setAccessible(true);
			SNAPSHOT_VERSIONS = CopyOnWriteStateTable.class.getDeclaredField("snapshotVersions");
			SNAPSHOT_VERSIONS.setAccessible(true);
		} catch (ReflectiveOperationException e) {
			throw new ExceptionInInitializerError(e);
		}
	}

	private final Context context = new Context();
	private CopyOnWriteStateTable<Long, Integer, Cell> table;
	private Slot[] slots = new Slot[4];
	/** The handshake's answer (`--level`, `--no-handshake`). */
	private String hello = hello("structural");

	/**
	 * The handshake (docs/PORTING.md §10): the level, the seed's own composite hash (`flink`), and the documented
	 * differences of the crate the seed keeps (PORTING.md §11), so that the kit compares the structure with the
	 * seed's algorithm rather than reporting them.
	 */
	static String hello(String level) {
		return hello(level, DIFFERENCES);
	}

	/** The differences of PORTING.md §11 the seed keeps. */
	static final String[] DIFFERENCES = {"no-shrink", "step-on-reads", "whole-bucket-steps", "insert-at-rehash-index-into-old"};

	static String hello(String level, String[] differences) {
		StringBuilder list = new StringBuilder();
		for (String d : differences) {
			list.append(list.length() == 0 ? "" : ",").append(quote(d));
		}
		return "{\"level\":\"" + level + "\",\"hash\":\"flink\",\"differences\":[" + list + "]}";
	}

	Adapter() throws Exception {
		reset(4);
	}

	@SuppressWarnings("unchecked")
	void reset(long capacity) throws Exception {
		int c = (int) Math.min(capacity, 1L << 30);
		// The seed's constructor with a capacity is private (the package one always asks for 1024).
		table = (CopyOnWriteStateTable<Long, Integer, Cell>) TABLE_WITH_CAPACITY.newInstance(
				context, new RegisteredBackendStateMetaInfo<>(NAMESPACES, STATES), c);
		slots = new Slot[4];
	}

	// Requests ---------------------------------------------------------------------------------------------------

	/** The result of one request as JSON text. */
	String apply(Map<String, String> req) throws Exception {
		String op = req.get("op");
		if (op == null) {
			throw new BadRequest("no op");
		}
		switch (op) {
			case "hello":
				return hello;
			case "state":
				return state();
			case "reset":
				reset(req.containsKey("capacity") ? Long.parseUnsignedLong(req.get("capacity")) : 4);
				return "null";
			case "put":
				table.put(key(req), ns(req), new Cell(value(req)));
				return "null";
			case "put_and_get_old":
				return cell(table.putAndGetOld(key(req), ns(req), new Cell(value(req))));
			case "get":
				return cell(table.get(key(req), ns(req)));
			case "contains":
				return Boolean.toString(table.containsKey(key(req), ns(req)));
			case "get_mut": {
				// Flink's way of changing a state in place: get it (the seed copies it first if a snapshot
				// shares it) and mutate the object.
				Cell s = table.get(key(req), ns(req));
				if (s == null) {
					return "null";
				}
				s.v = s.v * 31 + value(req) + 1;
				return u64(s.v);
			}
			case "remove":
				// The seed's remove(K, N) returns nothing; removeAndGetOld runs the same removeEntry and tells
				// whether there was an entry (states are never null).
				return Boolean.toString(table.removeAndGetOld(key(req), ns(req)) != null);
			case "remove_and_get_old":
				return cell(table.removeAndGetOld(key(req), ns(req)));
			case "transform": {
				final long v = value(req);
				final Long[] old = new Long[1];
				table.transform(key(req), ns(req), v, (prev, value) -> {
					if (prev == null) {
						return new Cell(value << 8);
					}
					old[0] = prev.v;
					// In place, like get_mut: the seed hands the function a copy when a snapshot shares it.
					prev.v = prev.v + value + 1;
					return prev;
				});
				return old[0] == null ? "null" : u64(old[0]);
			}
			case "len":
				return Integer.toString(table.size());
			case "size_of_namespace":
				return Integer.toString(table.sizeOfNamespace(ns(req)));
			case "iterate": {
				List<long[]> rows = new ArrayList<>();
				for (StateEntry<Long, Integer, Cell> e : table) {
					rows.add(new long[] {e.getKey(), e.getNamespace(), e.getState().v});
				}
				return rows(rows);
			}
			case "snapshot": {
				int slot = slot(req);
				if (slots[slot] != null) {
					slots[slot].snapshot.release();
				}
				CopyOnWriteStateTableSnapshot<Long, Integer, Cell> s = table.createSnapshot();
				slots[slot] = new Slot(s, taken(s));
				return Integer.toString(s.getSnapshotVersion());
			}
			case "release": {
				int slot = slot(req);
				if (slots[slot] == null) {
					return "false";
				}
				slots[slot].snapshot.release();
				slots[slot] = null;
				return "true";
			}
			case "read_snapshot": {
				Slot s = slots[slot(req)];
				if (s == null) {
					return "null";
				}
				// As the seed's own tests read a snapshot: every chain of the bucket array it took.
				List<long[]> rows = new ArrayList<>();
				for (CopyOnWriteStateTable.StateTableEntry<Long, Integer, Cell> e : s.taken) {
					for (; e != null; e = e.next) {
						rows.add(new long[] {e.key, e.namespace, e.state.v});
					}
				}
				return rows(rows);
			}
			case "partition": {
				Slot s = slots[slot(req)];
				if (s == null) {
					return "null";
				}
				int maxParallelism = (int) Long.parseLong(req.get("max_parallelism"));
				rearm(s, maxParallelism);
				StringBuilder out = new StringBuilder("[");
				for (int kg = 0; kg < maxParallelism; kg++) {
					Bytes b = new Bytes();
					s.snapshot.writeMappingsInKeyGroup(b, kg);
					byte[] body = b.bytes();
					int count = ((body[0] & 0xff) << 24) | ((body[1] & 0xff) << 16) | ((body[2] & 0xff) << 8) | (body[3] & 0xff);
					if (count != 0) {
						out.append(out.length() > 1 ? "," : "").append('[').append(kg).append(',').append(count).append(']');
					}
				}
				return out.append(']').toString();
			}
			case "write_key_group": {
				Slot s = slots[slot(req)];
				if (s == null) {
					return "null";
				}
				int maxParallelism = (int) Long.parseLong(req.get("max_parallelism"));
				int keyGroup = (int) Long.parseLong(req.get("key_group"));
				rearm(s, maxParallelism);
				Bytes b = new Bytes();
				s.snapshot.writeMappingsInKeyGroup(b, keyGroup);
				return '"' + canonical(b.bytes()) + '"';
			}
			default:
				throw new BadRequest("unknown op " + op);
		}
	}

	@SuppressWarnings("unchecked")
	static CopyOnWriteStateTable.StateTableEntry<Long, Integer, Cell>[] taken(CopyOnWriteStateTableSnapshot<Long, Integer, Cell> s)
			throws IllegalAccessException {
		// A copy of the array the seed's snapshot took (it is already the seed's own copy of the table's buckets;
		// the seed changes it only when it partitions and writes key groups).
		return ((CopyOnWriteStateTable.StateTableEntry<Long, Integer, Cell>[]) SNAPSHOT_DATA.get(s)).clone();
	}

	/**
	 * The state request (docs/PORTING.md §10): `len` is the seed's size(), `version` its stateTableVersion,
	 * `live_snapshots` the size of its set of registered snapshot versions, `capacity` the length of the table
	 * entries are moving to during a rehash (else of the primary table), `rehashing` its isRehashing(). The seed
	 * counts no copies, so the informative counters are left out.
	 */
	String state() throws IllegalAccessException {
		Object[] primary = (Object[]) PRIMARY_TABLE.get(table);
		Object[] rehash = (Object[]) REHASH_TABLE.get(table);
		boolean rehashing = table.isRehashing();
		int live;
		java.util.Set<?> versions = (java.util.Set<?>) SNAPSHOT_VERSIONS.get(table);
		synchronized (versions) {
			live = versions.size();
		}
		return "{\"len\":" + table.size() + ",\"version\":" + table.getStateTableVersion() + ",\"live_snapshots\":" + live
				+ ",\"capacity\":" + (rehashing ? rehash.length : primary.length) + ",\"rehashing\":" + rehashing + "}";
	}

	/**
	 * The seed's snapshot is write-once: its first write partitions its array in place (for the key context's
	 * maximum parallelism at that time) and writing a key group clears that key group's slots. The protocol reads
	 * a snapshot any number of times with a maximum parallelism per request, so before each partition or
	 * write_key_group request the adapter puts back the array as taken and forgets the partition: the seed's own
	 * partitioning and writing code then runs as on a snapshot just taken.
	 */
	void rearm(Slot s, int maxParallelism) throws IllegalAccessException {
		context.maxParallelism = maxParallelism;
		SNAPSHOT_DATA.set(s.snapshot, s.taken.clone());
		KEY_GROUP_OFFSETS.set(s.snapshot, null);
	}

	/**
	 * A key-group body with its entries sorted by their bytes (FORMAT.md's canonical order; the seed writes them
	 * in bucket order, which no port is asked to match).
	 */
	static String canonical(byte[] body) {
		final int record = 4 + 8 + 8;
		int count = (body.length - 4) / record;
		byte[][] records = new byte[count][];
		for (int i = 0; i < count; i++) {
			records[i] = Arrays.copyOfRange(body, 4 + i * record, 4 + (i + 1) * record);
		}
		Arrays.sort(records, Arrays::compareUnsigned);
		StringBuilder hex = new StringBuilder();
		appendHex(hex, Arrays.copyOfRange(body, 0, 4));
		for (byte[] r : records) {
			appendHex(hex, r);
		}
		if (4 + count * record != body.length) {
			appendHex(hex, Arrays.copyOfRange(body, 4 + count * record, body.length));
		}
		return hex.toString();
	}

	static void appendHex(StringBuilder out, byte[] bytes) {
		for (byte b : bytes) {
			out.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
		}
	}

	static String rows(List<long[]> rows) {
		Comparator<long[]> byKey = (a, b) -> Long.compareUnsigned(a[0], b[0]);
		rows.sort(byKey.thenComparing((a, b) -> Integer.compareUnsigned((int) a[1], (int) b[1]))
				.thenComparing((a, b) -> Long.compareUnsigned(a[2], b[2])));
		StringBuilder out = new StringBuilder("[");
		for (long[] r : rows) {
			out.append(out.length() > 1 ? "," : "")
					.append('[').append(u64(r[0])).append(',').append(Integer.toUnsignedString((int) r[1]))
					.append(',').append(u64(r[2])).append(']');
		}
		return out.append(']').toString();
	}

	static String cell(Cell c) {
		return c == null ? "null" : u64(c.v);
	}

	static String u64(long v) {
		return Long.toUnsignedString(v);
	}

	static Long key(Map<String, String> req) {
		return Long.parseUnsignedLong(field(req, "key"));
	}

	static Integer ns(Map<String, String> req) {
		return (int) Long.parseUnsignedLong(field(req, "ns"));
	}

	static long value(Map<String, String> req) {
		return Long.parseUnsignedLong(field(req, "value"));
	}

	static int slot(Map<String, String> req) {
		int slot = Integer.parseInt(field(req, "slot"));
		if (slot < 0 || slot >= 4) {
			throw new BadRequest("slot " + slot + " is not below 4");
		}
		return slot;
	}

	static String field(Map<String, String> req, String name) {
		String v = req.get(name);
		if (v == null) {
			throw new BadRequest("missing field " + name);
		}
		return v;
	}

	/** A request the adapter cannot serve (not an exception of the seed). */
	static final class BadRequest extends RuntimeException {
		BadRequest(String message) {
			super(message);
		}
	}

	// JSON, just enough: a flat object whose values are numbers, strings, booleans or null ---------------------

	static Map<String, String> parse(String line) {
		Map<String, String> out = new HashMap<>();
		int i = skip(line, 0);
		expect(line, i++, '{');
		i = skip(line, i);
		if (line.charAt(i) == '}') {
			return out;
		}
		while (true) {
			i = skip(line, i);
			int[] end = new int[1];
			String name = string(line, i, end);
			i = skip(line, end[0]);
			expect(line, i++, ':');
			i = skip(line, i);
			String value;
			if (line.charAt(i) == '"') {
				value = string(line, i, end);
				i = end[0];
			} else {
				int start = i;
				while (i < line.length() && ",} \t".indexOf(line.charAt(i)) < 0) {
					i++;
				}
				value = line.substring(start, i);
			}
			out.put(name, value);
			i = skip(line, i);
			if (line.charAt(i) == ',') {
				i++;
				continue;
			}
			expect(line, i, '}');
			return out;
		}
	}

	static int skip(String s, int i) {
		while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
			i++;
		}
		return i;
	}

	static void expect(String s, int i, char c) {
		if (i >= s.length() || s.charAt(i) != c) {
			throw new BadRequest("expected '" + c + "' at " + i + " of " + s);
		}
	}

	static String string(String s, int i, int[] end) {
		expect(s, i, '"');
		StringBuilder out = new StringBuilder();
		for (i++; s.charAt(i) != '"'; i++) {
			char c = s.charAt(i);
			if (c == '\\') {
				c = s.charAt(++i);
			}
			out.append(c);
		}
		end[0] = i + 1;
		return out.toString();
	}

	static String quote(String s) {
		StringBuilder out = new StringBuilder("\"");
		for (char c : s.toCharArray()) {
			if (c == '"' || c == '\\') {
				out.append('\\').append(c);
			} else if (c < 0x20) {
				out.append(String.format("\\u%04x", (int) c));
			} else {
				out.append(c);
			}
		}
		return out.append('"').toString();
	}

	/**
	 * The exception as one line: the innermost frame of the seed's code first (so that a cut message still names
	 * it), then the class and message.
	 */
	static String describe(Throwable t) {
		StringBuilder out = new StringBuilder();
		for (StackTraceElement f : t.getStackTrace()) {
			if (f.getClassName().startsWith(CopyOnWriteStateTable.class.getName())) {
				out.append(f.getClassName().substring(f.getClassName().lastIndexOf('.') + 1))
						.append('.').append(f.getMethodName()).append(':').append(f.getLineNumber()).append(": ");
				break;
			}
		}
		out.append(t.getClass().getName());
		if (t.getMessage() != null) {
			out.append(": ").append(t.getMessage());
		}
		return out.toString();
	}

	/**
	 * Replays a minimal failing trace as `conform` prints it (`{"i":0,"op":...,"expected":...}` per line, a
	 * table of 4 initial buckets) and compares every result with the expected one as JSON text. Prints `agrees`,
	 * or the first difference; exit 0 either way, 2 on a malformed trace.
	 */
	static int replay(String path) throws Exception {
		Adapter adapter = new Adapter();
		int n = 0;
		for (String line : java.nio.file.Files.readAllLines(java.nio.file.Paths.get(path))) {
			if (line.trim().isEmpty()) {
				continue;
			}
			int at = line.indexOf(",\"expected\":");
			if (at < 0) {
				System.err.println("replay: no expected result in " + line);
				return 2;
			}
			String expected = line.substring(at + ",\"expected\":".length());
			int got = expected.indexOf(",\"got\":");
			expected = got >= 0 ? expected.substring(0, got) : expected.substring(0, expected.length() - 1);
			String result;
			try {
				result = adapter.apply(parse(line.substring(0, at) + "}"));
			} catch (BadRequest e) {
				throw e;
			} catch (Throwable t) {
				result = "{\"java_exception\":" + quote(describe(t)) + "}";
			}
			if (!result.equals(expected)) {
				System.out.println("diverges at op " + n + ": " + line.substring(0, at) + "} expected " + expected + ", got " + result);
				return 0;
			}
			n++;
		}
		System.out.println("agrees");
		return 0;
	}

	/**
	 * Serves the protocol. An exception thrown by the seed is answered as the result {"java_exception": "..."}
	 * (never a result the kit expects, so it is a divergence the kit shrinks), or with
	 * --exceptions-as-errors as an error response (the kit stops without shrinking).
	 */
	public static void main(String[] args) throws Exception {
		if (args.length == 2 && args[0].equals("--replay")) {
			System.exit(replay(args[1]));
		}
		boolean asErrors = Arrays.asList(args).contains("--exceptions-as-errors");
		BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
		PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false, "UTF-8");
		Adapter adapter = new Adapter();
		int level = Arrays.asList(args).indexOf("--level");
		if (level >= 0 && level + 1 < args.length) {
			adapter.hello = hello(args[level + 1]);
		}
		// --without NAME: declare every difference but NAME (to show that each declared difference is needed).
		int without = Arrays.asList(args).indexOf("--without");
		if (without >= 0 && without + 1 < args.length) {
			String skip = args[without + 1];
			adapter.hello = hello(level >= 0 ? args[level + 1] : "structural",
					Arrays.stream(DIFFERENCES).filter(d -> !d.equals(skip)).toArray(String[]::new));
		}
		if (Arrays.asList(args).contains("--no-handshake")) {
			adapter.hello = "null";
		}
		for (String line; (line = in.readLine()) != null; ) {
			if (line.trim().isEmpty()) {
				continue;
			}
			String id = "0";
			String reply;
			try {
				Map<String, String> req = parse(line);
				id = field(req, "id");
				try {
					reply = "{\"id\":" + id + ",\"result\":" + adapter.apply(req) + "}";
				} catch (BadRequest e) {
					throw e;
				} catch (Throwable t) {
					String what = describe(t);
					System.err.println("seed threw on " + line + ": " + what);
					reply = asErrors
							? "{\"id\":" + id + ",\"error\":" + quote(what) + "}"
							: "{\"id\":" + id + ",\"result\":{\"java_exception\":" + quote(what) + "}}";
				}
			} catch (RuntimeException e) {
				reply = "{\"id\":" + id + ",\"error\":" + quote("bad request: " + e.getMessage()) + "}";
			}
			out.print(reply);
			out.print('\n');
			out.flush();
		}
	}
}
