-- One SCIM user create as scimgate commits it (gateway/users.c create_write and
-- webhooks/outbox.c append_sql): the users row, then the organization's event
-- counter and one outbox event row, in one transaction, with about the same
-- bytes: a ~400-byte jsonb document, a PBKDF2 string, a ~700-byte event payload.
-- pgbench (prepared mode) reads a colon followed by a word as a variable,
-- hence the space after every JSON colon, chr(58) in the URN and the JSON
-- escape \u003a in the organization role.
\set org random(1, :norgs)
BEGIN;
INSERT INTO users (org_id, id, user_name, external_id, active, doc, password_hash,
                   updated_at, deleted_at, created_at, version)
VALUES ('org_pgbench_' || :org, 'usr_' || md5(random()::text), md5(random()::text) || '@example.com',
        md5(random()::text), true,
        replace('{"schemas": ["urn|ietf|params|scim|schemas|core|2.0|User"],"userName": "lee.chen@example.com","name": {"givenName": "Lee","familyName": "Chen"},"emails": [{"primary": true,"value": "lee.chen@example.com","type": "work"}],"displayName": "Lee Chen","locale": "en-US","externalId": "00u1h7Q9","active": true,"meta": {"resourceType": "User"}}', '|', chr(58))::jsonb,
        'pbkdf2-sha256$2000$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=',
        now(), NULL, now(), 1);
WITH ev AS (
  SELECT a.e->>'id' AS id, a.e->>'type' AS type, a.e->>'resource_id' AS resource_id,
         a.e->'payload' AS payload, a.ord
  FROM json_array_elements(json_build_array(json_build_object('id', 'evt_' || md5(random()::text),
        'type', 'scimUser.provisioned', 'resource_id', 'usr_x',
        'payload', '{"id": "evt_01HKX9SY","type": "scimUser.provisioned","created_at": 1714723000000,"data": {"user": {"id": "usr_01HKX9SY","object": "user","organization_id": "org_01HKX9SY","email_address": "lee.chen@example.com","first_name": "Lee","last_name": "Chen","external_id": "00u1h7Q9","active": true,"organization_role": "org\u003amember","public_metadata": {},"created_at": 1714723000000,"updated_at": 1714723000000,"deleted_at": null},"organization_id": "org_01HKX9SY","enterprise_connection_id": null}}'::json)))
       WITH ORDINALITY AS a(e, ord)),
 c AS (
  INSERT INTO event_counters AS k (org_id, last_seq)
  VALUES ('org_pgbench_' || :org, (SELECT count(*) FROM ev))
  ON CONFLICT (org_id) DO UPDATE SET last_seq = k.last_seq + EXCLUDED.last_seq
  RETURNING k.last_seq - (SELECT count(*) FROM ev) AS base)
INSERT INTO events (org_id, seq, id, type, resource_id, payload)
  SELECT 'org_pgbench_' || :org, c.base + ev.ord, ev.id, ev.type, ev.resource_id, ev.payload
  FROM ev, c;
END;
