-- 0001_initial: the whole data model. Every tenant table is keyed by org_id
-- first, so every query names the organization and the schema can be
-- distributed by org_id (Citus). admin_keys and webhook_endpoints are small,
-- global configuration tables (Citus reference tables).

CREATE TABLE organizations (
    id          text PRIMARY KEY,                 -- org_<ulid>
    name        text NOT NULL,
    slug        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE UNIQUE INDEX organizations_slug_key
    ON organizations (lower(slug)) WHERE slug IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE admin_keys (
    id          text PRIMARY KEY,                 -- ak_<ulid>
    name        text NOT NULL,
    prefix      text NOT NULL,                    -- first characters, for display
    key_hash    text NOT NULL UNIQUE,             -- hex SHA-256 of the whole key
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE scim_tokens (
    org_id          text NOT NULL REFERENCES organizations (id),
    id              text NOT NULL,                -- scimt_<ulid>
    name            text NOT NULL,
    prefix          text NOT NULL,                -- scim_XXXXXXXX, shown in lists and logs
    token_hash      text NOT NULL,                -- hex SHA-256 of the whole token
    scopes          text[],                       -- NULL: every scope
    rate_per_sec    double precision,             -- NULL: SCIMGATE_RATE_PER_TOKEN
    burst           integer,                      -- NULL: SCIMGATE_BURST_PER_TOKEN
    expires_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    last_used_at    timestamptz,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX scim_tokens_hash_key ON scim_tokens (token_hash);

-- SCIM users. doc is the SCIM document in the stored-document convention of
-- gateway/scim_schema.h; the columns beside it are derived from it on every
-- write so lookups by userName, externalId, active and meta dates use indexes.
CREATE TABLE users (
    org_id          text NOT NULL REFERENCES organizations (id),
    id              text NOT NULL,                -- usr_<ulid>, also the SCIM id
    user_name       text NOT NULL,
    external_id     text,
    active          boolean NOT NULL DEFAULT true,
    doc             jsonb NOT NULL,
    password_hash   text,                         -- never the clear password
    version         bigint NOT NULL DEFAULT 1,    -- meta.version / ETag
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,                  -- product-side soft delete (active=false)
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX users_user_name_key ON users (org_id, lower(user_name));
CREATE INDEX users_external_id_idx ON users (org_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX users_created_at_idx ON users (org_id, created_at);
CREATE INDEX users_updated_at_idx ON users (org_id, updated_at);

CREATE TABLE groups (
    org_id          text NOT NULL REFERENCES organizations (id),
    id              text NOT NULL,                -- grp_<ulid>
    display_name    text NOT NULL,
    external_id     text,
    doc             jsonb NOT NULL,               -- without members (rows below)
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX groups_display_name_key ON groups (org_id, lower(display_name));
CREATE INDEX groups_external_id_idx ON groups (org_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX groups_created_at_idx ON groups (org_id, created_at);
CREATE INDEX groups_updated_at_idx ON groups (org_id, updated_at);

-- One row per membership; a member is a user or a group of the same organization.
CREATE TABLE group_members (
    org_id          text NOT NULL,
    group_id        text NOT NULL,
    member_id       text NOT NULL,
    member_type     text NOT NULL CHECK (member_type IN ('User', 'Group')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, group_id, member_id),
    FOREIGN KEY (org_id, group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_member_idx ON group_members (org_id, member_id);

CREATE TABLE attribute_mappings (
    org_id              text PRIMARY KEY REFERENCES organizations (id),
    user_id_attribute   text NOT NULL DEFAULT 'userName'
                        CHECK (user_id_attribute IN ('userName', 'externalId', 'email')),
    mapping             jsonb NOT NULL DEFAULT '{}',
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- The outbox. seq is per organization, strictly increasing and without gaps:
-- a write takes the organization's counter row lock, so events of one
-- organization commit in seq order and a poller reading "after seq" never
-- skips one.
CREATE TABLE event_counters (
    org_id      text PRIMARY KEY REFERENCES organizations (id),
    last_seq    bigint NOT NULL DEFAULT 0
);

CREATE TABLE events (
    org_id          text NOT NULL,
    seq             bigint NOT NULL,
    id              text NOT NULL,                -- evt_<ulid>
    type            text NOT NULL,                -- scimUser.provisioned, ...
    resource_id     text,                         -- usr_/grp_ id, orders deliveries
    payload         json NOT NULL,                -- the webhook body, byte order kept
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, seq)
);
CREATE UNIQUE INDEX events_id_key ON events (id);

CREATE TABLE webhook_endpoints (
    id              text PRIMARY KEY,             -- whep_<ulid>
    org_id          text REFERENCES organizations (id), -- NULL: every organization
    url             text NOT NULL,
    secret          text NOT NULL,                -- whsec_<base64>, needed to sign
    events          text[],                       -- NULL: every event type
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);

-- One row per (event, endpoint): the unit the worker claims, retries and
-- finally marks succeeded or failed. Its id is the webhook-id header, the
-- same on every retry.
CREATE TABLE deliveries (
    org_id           text NOT NULL,
    id               text NOT NULL,               -- msg_<event ulid><endpoint ulid>
    event_seq        bigint NOT NULL,
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id),
    resource_id      text NOT NULL DEFAULT '',    -- deliveries of one resource go in seq order
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    first_attempt_at timestamptz,
    lease_owner      text,                        -- worker holding it
    lease_until      timestamptz,                 -- taken over by others after this
    last_status      integer,                     -- HTTP status of the last attempt
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, event_seq) REFERENCES events (org_id, seq)
);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_order_idx
    ON deliveries (endpoint_id, org_id, resource_id, event_seq) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint_idx ON deliveries (endpoint_id, created_at);

-- Every attempt of every delivery, for GET /v1/webhook-endpoints/{id}/deliveries.
CREATE TABLE delivery_attempts (
    org_id          text NOT NULL,
    delivery_id     text NOT NULL,
    attempt         integer NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_ms     integer,
    response_status integer,                      -- NULL: no HTTP answer
    error           text,
    PRIMARY KEY (org_id, delivery_id, attempt),
    FOREIGN KEY (org_id, delivery_id) REFERENCES deliveries (org_id, id) ON DELETE CASCADE
);

-- Lets one statement abort its transaction with a chosen SQLSTATE, so a
-- pipeline segment (several statements, one implicit transaction) can check a
-- condition, e.g. an optimistic version match, and roll everything back.
-- scimgate's own codes: SGV01 version changed (retry), SGN01 not found.
CREATE FUNCTION scimgate_assert(ok boolean, code text, message text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
    END IF;
    RETURN true;
END
$$;
