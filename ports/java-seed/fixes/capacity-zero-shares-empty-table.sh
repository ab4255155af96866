# Seed bug 2 (docs/PORTING.md, "The seed's Java as a port"; latent: the seed's only caller asks for 1024 buckets):
# a table made with capacity 0 keeps the static, shared EMPTY_TABLE as its bucket array, so its first insertion
# writes an entry into the array that every other table uses as its empty rehash table. The fix: capacity 0 is
# raised to the minimum capacity like any other capacity below it.
# Sourced by build.sh with $src set to the directory of the extracted sources; fails unless it applies once.
perl -0pi -e '
  $n += s{if \(capacity == 0\) \{\s*threshold = -1;\s*return;\s*\}}
         {/* fix 2: capacity 0 is raised to the minimum below */};
  END { exit($n == 1 ? 0 : 1) }' "$src/CopyOnWriteStateTable.java"
