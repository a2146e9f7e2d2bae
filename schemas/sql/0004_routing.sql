-- 0004: the routing state (which store is primary, whether writes also go to
-- the other one), shared by every replica (service/failover.h).
--
-- Choices:
-- * One row. Its version grows with every change; a replica applies a state
--   only when its version is newer than the one it routes by, so a late
--   notification or poll never undoes a later switch.
-- * memoryd.routing_set writes the row and notifies the channel
--   memoryd_routing in the same transaction: LISTENing replicas apply it at
--   once, the others on their next poll. With p_only_if_primary set, the
--   change happens only while that store is still primary, so replicas that
--   detect the same outage together fail over once, not once each.
-- * No expiry: this is configuration, not data.

CREATE TABLE memoryd.routing_state (
    id            integer PRIMARY KEY CHECK (id = 1),
    primary_store text NOT NULL CHECK (primary_store IN ('redis', 'postgres')),
    dual_write    boolean NOT NULL,
    version       bigint NOT NULL,
    since         timestamptz NOT NULL,
    changed_by    text NOT NULL,
    reason        text NOT NULL DEFAULT ''
);

CREATE FUNCTION memoryd.routing_set(p_primary text, p_dual_write boolean, p_changed_by text,
                                    p_reason text, p_only_if_primary text)
RETURNS SETOF memoryd.routing_state
LANGUAGE plpgsql AS $$
DECLARE
    cur memoryd.routing_state;
BEGIN
    -- FOR UPDATE locks nothing while the row does not exist yet: two first
    -- changes at once would both pass the check below
    PERFORM pg_advisory_xact_lock(1836020838);
    SELECT * INTO cur FROM memoryd.routing_state WHERE id = 1;
    IF p_only_if_primary IS NOT NULL
       AND coalesce(cur.primary_store, 'redis') <> p_only_if_primary THEN
        RETURN QUERY SELECT * FROM memoryd.routing_state WHERE id = 1;
        RETURN;
    END IF;
    INSERT INTO memoryd.routing_state AS r
           (id, primary_store, dual_write, version, since, changed_by, reason)
    VALUES (1, p_primary, p_dual_write, 1, clock_timestamp(), p_changed_by, p_reason)
    ON CONFLICT (id) DO UPDATE
       SET primary_store = EXCLUDED.primary_store, dual_write = EXCLUDED.dual_write,
           version = r.version + 1, since = EXCLUDED.since,
           changed_by = EXCLUDED.changed_by, reason = EXCLUDED.reason;
    PERFORM pg_notify('memoryd_routing', '');
    RETURN QUERY SELECT * FROM memoryd.routing_state WHERE id = 1;
END $$;
