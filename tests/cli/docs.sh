# agentbase docs: the data dictionary names every table and view of the schema with its
# columns and descriptions, the ER diagram renders, the access table is the one in docs/api.md;
# an unmigrated database is refused.
source "$(dirname "$0")/../lib.sh"
plan 10

ab_home
ab_pg_start
out=$("$AB_BIN" docs --out "$AGENTBASE_HOME/docs" 2>&1); rc=$?
is "$rc" 1 "docs refuses a database that is not migrated"
like "$out" "run \`agentbase migrate up\` first" "and says what to do"

"$AB_BIN" migrate up >/dev/null
out=$("$AB_BIN" docs --out "$AGENTBASE_HOME/docs" 2>&1); rc=$?
is "$rc" 0 "docs writes the dictionary and the diagram"
dict=$(cat "$AGENTBASE_HOME/docs/README.md")
missing=""
for t in $(q -c "SELECT relname FROM pg_class WHERE relnamespace = 'agentbase'::regnamespace
                  AND relkind IN ('r', 'p', 'v') AND NOT relispartition ORDER BY 1"); do
    grep -q "^## $t\$" <<<"$dict" || missing="$missing $t"
done
is "$missing" "" "every table and view has a section"
# every table lists its indexes, each with its definition (the primary key's at least)
noidx=""
for t in $(q -c "SELECT relname FROM pg_class WHERE relnamespace = 'agentbase'::regnamespace
                  AND relkind IN ('r', 'p') AND NOT relispartition ORDER BY 1"); do
    section=$(sed -n "/^## $t\$/,/^## /p" <<<"$dict")
    for i in $(q -c "SELECT ic.relname FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
                      WHERE x.indrelid = 'agentbase.$t'::regclass"); do
        grep -qE "^- \`$i\`: \`(UNIQUE )?btree|^- \`$i\`: \`(gin|gist|hnsw|ivfflat)" <<<"$section" \
            || noidx="$noidx $t.$i"
    done
done
is "$noidx" "" "every table's section lists each of its indexes with its definition"
# every column row carries a description (the last cell is not empty)
is "$(grep -cE '^\| `[a-z_0-9]+` \|.*\|  \|$' <<<"$dict")" 0 "every column has a description"
like "$(grep -c "<svg " "$AGENTBASE_HOME/docs/er.svg")" "^1$" "the ER diagram is rendered to SVG"
like "$(cat "$AGENTBASE_HOME/docs/er.dot")" '"messages" -> "conversations"' \
    "and shows the references between tables"
# The access table in docs/api.md is the one role_access gives (docs cannot drift).
acc="$AGENTBASE_HOME/docs/access.md"
like "$(head -n 1 "$acc")" '^\| resource \| user reads' "docs writes the access table"
in_api=$(sed -n '/^<!-- access table: agentbase docs, access.md -->$/,/^<!-- end of the access table -->$/p' \
    "$AB_REPO/docs/api.md" | sed '1d;$d')
is "$in_api" "$(cat "$acc")" "docs/api.md shows exactly the access table of role_access"
ab_done
