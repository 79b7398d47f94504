-- A filter lookup's database work: userName eq "x" by (org_id, lower(user_name)).
\set org random(1, :norgs)
\set u random(1, 1000)
SELECT id, user_name, external_id, active, doc, version, created_at, updated_at
  FROM users WHERE org_id = 'org_pgbench_' || :org
   AND lower(user_name) = lower('read.user' || :u || '@example.com');
