#!/usr/bin/env python3
"""The raw SQL ceiling of `persist` on PostgreSQL, for scripts/bench.

Runs pgbench with the statements Salon's store runs to post a message (take the
conversation's row, then one insert that takes the next sequence, checks access, the
author's role, the lock and the reply and reads the author's name and role; migration 0004's trigger moves `last_seq`), in
one transaction, against the database the persist scenario just used, with as many
clients as Salon's connection pool. Prints one JSON line.

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
visible = ("SELECT cp.conversation_id FROM conversation_participants cp WHERE cp.account_id = :author "
           "UNION SELECT cg.conversation_id FROM conversation_groups cg "
           "JOIN group_members gm ON gm.group_id = cg.group_id WHERE gm.account_id = :author")
script = f"""\\set k random(1, {len(pairs)})
\\set conv {case(0)}
\\set author {case(1)}
\\set id random(1, 9000000000000000000)
BEGIN;
SELECT id FROM conversations WHERE id = :conv ORDER BY id FOR NO KEY UPDATE;
INSERT INTO messages (id, conversation_id, seq, author_id, body, reply_to, client_id, created_at) SELECT :id, c.id, c.last_seq + 1, :author, 't=0 n=0 lorem ipsum dolor sit amet, consectetur adipiscing elit; sed do eiusmod', NULL, NULL, 0 FROM conversations c WHERE c.id = :conv AND NOT c.locked AND c.id IN ({visible}) AND NOT EXISTS (SELECT 1 FROM workspace_members wl WHERE wl.workspace_id = c.workspace_id AND wl.account_id = :author AND wl.role = 'lite') AND (NULL::bigint IS NULL OR (NULL::bigint >= 1 AND NULL::bigint <= c.last_seq)) ON CONFLICT (conversation_id, author_id, client_id) WHERE client_id IS NOT NULL DO NOTHING RETURNING seq, (SELECT a.display_name FROM accounts a WHERE a.id = :author) AS author_name, (SELECT wm.role FROM workspace_members wm WHERE wm.account_id = :author AND wm.workspace_id = (SELECT cw.workspace_id FROM conversations cw WHERE cw.id = :conv)) AS author_role;
COMMIT;
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
