# Seed bug 1 (docs/PORTING.md, "The seed's Java as a port"; Flink later fixed it as FLINK-9601): the snapshot
# partitions its entries into the bucket array it took, which, right after a rehash has started, can be shorter
# than the number of entries. The fix: make that array at least as long as the table's size (null padding is
# skipped when the chains are walked).
# Sourced by build.sh with $src set to the directory of the extracted sources; fails unless it applies once.
perl -0pi -e '
  $n += s{this\.snapshotData = owningStateTable\.snapshotTableArrays\(\);}
         {CopyOnWriteStateTable.StateTableEntry<K, N, S>[] taken = owningStateTable.snapshotTableArrays(); /* fix 1 */
		this.snapshotData = java.util.Arrays.copyOf(taken, Math.max(taken.length, owningStateTable.size()));};
  END { exit($n == 1 ? 0 : 1) }' "$src/CopyOnWriteStateTableSnapshot.java"
