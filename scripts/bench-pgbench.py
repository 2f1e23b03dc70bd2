#!/usr/bin/env python3
"""The raw SQL ceiling of `persist` on PostgreSQL, for scripts/bench.

Runs pgbench with the statements Salon's store runs to post a message alone: a
function, like the `salon_post` each of Salon's connections defines, that takes the
conversation's row, then runs one insert that takes the next sequence, checks access,
the author's role, the lock and the reply and reads the author's name and role
(migration 0004's trigger moves `last_seq`); one call, its own transaction. Against the
database the persist scenario just used, with as many clients as Salon's connection
pool. Prints one JSON line.

usage: bench-pgbench.py DATABASE_URL SECONDS CLIENTS WORKDIR
"""
import json
import os
import subprocess
import sys

url, seconds, clients, work = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
os.makedirs(work, exist_ok=True)

pairs = subprocess.run(
    ["psql", url, "-Atc",
     "SELECT cp.conversation_id, cp.account_id FROM conversation_participants cp "
     "JOIN conversations c ON c.id = cp.conversation_id "
     "WHERE c.kind = 'thread' AND cp.account_id <> c.created_by AND NOT c.locked "
     "AND NOT EXISTS (SELECT 1 FROM workspace_members wl WHERE wl.workspace_id = c.workspace_id "
     "AND wl.account_id = cp.account_id AND wl.role = 'lite') ORDER BY 1 LIMIT 32"],
    check=True, capture_output=True, text=True).stdout.split()
pairs = [p.split("|") for p in pairs]
if not pairs:
    sys.exit("run the persist scenario on this database first")

# pgbench has no arrays: pick the pair with a CASE over a random index.
case = lambda col: "(case " + " ".join(f"when :k = {i + 1} then {p[col]}" for i, p in enumerate(pairs)) + " end)"
# The access rule as the insert asks it (`sees` in src/store/shared.rs).
sees = ("EXISTS (SELECT 1 FROM conversation_participants cp WHERE cp.conversation_id = c.id AND cp.account_id = $3 "
        "UNION ALL SELECT 1 FROM conversation_groups cg JOIN group_members gm ON gm.group_id = cg.group_id "
        "WHERE cg.conversation_id = c.id AND gm.account_id = $3)")
insert = ("INSERT INTO messages (id, conversation_id, seq, author_id, body, reply_to, client_id, created_at) "
          "SELECT $1, c.id, c.last_seq + 1, $3, $4, $5, $6, $7 FROM conversations c "
          f"WHERE c.id = $2 AND NOT c.locked AND {sees} "
          "AND NOT EXISTS (SELECT 1 FROM workspace_members wl WHERE wl.workspace_id = c.workspace_id "
          "AND wl.account_id = $3 AND wl.role = 'lite') AND ($5 IS NULL OR ($5 >= 1 AND $5 <= c.last_seq)) "
          "ON CONFLICT (conversation_id, author_id, client_id) WHERE client_id IS NOT NULL DO NOTHING "
          "RETURNING seq, (SELECT a.display_name FROM accounts a WHERE a.id = $3) AS author_name, "
          "(SELECT wm.role FROM workspace_members wm WHERE wm.account_id = $3 AND wm.workspace_id = "
          "(SELECT cw.workspace_id FROM conversations cw WHERE cw.id = $2)) AS author_role")
function = ("CREATE OR REPLACE FUNCTION bench_post(BIGINT, BIGINT, BIGINT, TEXT, BIGINT, TEXT, BIGINT) "
            "RETURNS TABLE (seq BIGINT, author_name TEXT, author_role TEXT) LANGUAGE plpgsql VOLATILE AS $post$\n"
            "#variable_conflict use_column\n"
            f"BEGIN PERFORM 1 FROM conversations WHERE id = $2 FOR NO KEY UPDATE; RETURN QUERY {insert}; END $post$")
subprocess.run(["psql", url, "-qc", function], check=True)
script = f"""\\set k random(1, {len(pairs)})
\\set conv {case(0)}
\\set author {case(1)}
\\set id random(1, 9000000000000000000)
SELECT * FROM bench_post(:id, :conv, :author, 't=0 n=0 lorem ipsum dolor sit amet, consectetur adipiscing elit; sed do eiusmod', NULL, NULL, 0);
"""
path = os.path.join(work, "post.sql")
with open(path, "w") as f:
    f.write(script)
run = subprocess.run(
    ["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(max(1, int(seconds))), "-f", path,
     "--log", f"--log-prefix={work}/tx", url],
    capture_output=True, text=True, cwd=work)
if run.returncode != 0:
    sys.exit(f"pgbench failed:\n{run.stdout}\n{run.stderr}")
tps = next(float(l.split("=")[1].split()[0]) for l in run.stdout.splitlines() if l.startswith("tps ="))
latencies = []
for name in os.listdir(work):
    if name.startswith("tx."):
        with open(os.path.join(work, name)) as f:
            latencies += [int(line.split()[2]) for line in f if line.strip()]
latencies.sort()
pct = lambda q: latencies[round((len(latencies) - 1) * q)] / 1000 if latencies else None
print(json.dumps({"scenario": "persist-ceiling", "target": "pgbench", "label": "postgres", "clients": clients,
                  "transactions_per_s": round(tps, 1), "p50_ms": pct(0.5), "p99_ms": pct(0.99)}))
