// Stub written by this project (not Flink code): only what the seed's CopyOnWriteStateTable needs. See
// docs/PORTING.md, "The seed's Java as a port".
package org.apache.flink.util;

public final class MathUtils {
	private MathUtils() {}

	/** The smallest power of two >= x, for 0 < x <= 2^30. */
	public static int roundUpToPowerOfTwo(int x) {
		x = x - 1;
		x |= x >> 1;
		x |= x >> 2;
		x |= x >> 4;
		x |= x >> 8;
		x |= x >> 16;
		return x + 1;
	}

	/** Murmur3's finaliser fmix32 (the crate's keygroup::bit_mix). */
	public static int bitMix(int h) {
		h ^= h >>> 16;
		h *= 0x85ebca6b;
		h ^= h >>> 13;
		h *= 0xc2b2ae35;
		h ^= h >>> 16;
		return h;
	}

	/** One murmur3 x86-32 block with seed 0, length 4, fmix32, then the absolute value (MIN_VALUE -> 0). */
	public static int murmurHash(int code) {
		code *= 0xcc9e2d51;
		code = Integer.rotateLeft(code, 15);
		code *= 0x1b873593;
		code = Integer.rotateLeft(code, 13);
		code = code * 5 + 0xe6546b64;
		code ^= 4;
		code = bitMix(code);
		if (code >= 0) {
			return code;
		} else if (code != Integer.MIN_VALUE) {
			return -code;
		} else {
			return 0;
		}
	}
}
