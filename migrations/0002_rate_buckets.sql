-- 0002_rate_buckets: the shared token bucket of each SCIM token, from which
-- every gateway process leases slices (gateway/ratelimit.h explains the
-- arithmetic; the statement in gateway/ratelimit_gate.c mirrors
-- ratelimit_shared_grant exactly). Tokens and time in integer millionths and
-- microseconds of the database's clock.
CREATE TABLE rate_buckets (
    org_id       text   NOT NULL,
    token_id     text   NOT NULL,
    micro_tokens bigint NOT NULL,  -- tokens left after the last grant, x 1e6
    updated_us   bigint NOT NULL,  -- database clock of that refill, microseconds
    granted      bigint NOT NULL,  -- whole tokens the last statement granted
    PRIMARY KEY (org_id, token_id)
);
