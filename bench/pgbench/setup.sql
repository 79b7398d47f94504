-- The pgbench database: the real schema (scimgate migrate) plus the
-- organizations the scripts write to and 1,000 users in each for the reads.
INSERT INTO organizations (id, name)
    SELECT 'org_pgbench_' || o, 'pgbench ' || o FROM generate_series(1, :norgs) AS o;
INSERT INTO event_counters (org_id)
    SELECT 'org_pgbench_' || o FROM generate_series(1, :norgs) AS o;
INSERT INTO users (org_id, id, user_name, external_id, doc)
    SELECT 'org_pgbench_' || o, 'usr_pgbench_' || o || '_' || u,
           'Read.User' || u || '@example.com', 'ext' || u,
           jsonb_build_object('schemas', jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),
                              'userName', 'Read.User' || u || '@example.com',
                              'name', jsonb_build_object('givenName', 'Lee', 'familyName', 'Chen'),
                              'emails', jsonb_build_array(jsonb_build_object('primary', true,
                                  'value', 'Read.User' || u || '@example.com', 'type', 'work')),
                              'displayName', 'Lee Chen', 'locale', 'en-US', 'active', true)
    FROM generate_series(1, :norgs) AS o, generate_series(1, 1000) AS u;
VACUUM ANALYZE;
