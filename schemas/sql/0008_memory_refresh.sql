-- 0008: an item keeps its TTL beside its expiry, so that a read can start
-- it again (LangGraph's refresh_on_read: refresh_ttl on GET /memory/items
-- and on /memory/search, service/pg/memory.c pg_memory_refresh).
--
-- ttl_seconds: the TTL of the last put (0: none). NULL on rows written
-- before this migration, whose TTL is expires_at - updated_at (a put set
-- both from one now()); their first refresh writes it. Adding a nullable
-- column without a default changes the catalogue only.
-- memory_put_as keeps its signature, so replicas of the previous release go
-- on calling it during a rolling update.

ALTER TABLE memoryd.memory_items ADD COLUMN ttl_seconds bigint;

CREATE OR REPLACE FUNCTION memoryd.memory_put_as(p_tenant text, p_ns text, p_key text,
                                                 p_value text, p_ttl bigint, p_if_match text,
                                                 p_version bigint)
RETURNS TABLE (status text, version bigint, created_at timestamptz, updated_at timestamptz,
               expires_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
    cur bigint;
    v bigint;
BEGIN
    SELECT m.ok, m.cur INTO ok, cur FROM memoryd.memory_match(p_tenant, p_ns, p_key, p_if_match) m;
    IF NOT ok THEN
        RETURN QUERY SELECT 'precondition'::text, cur, NULL::timestamptz, NULL::timestamptz,
                            NULL::timestamptz;
        RETURN;
    END IF;
    IF p_version IS NULL THEN
        v := nextval('memoryd.memory_version');
    ELSE
        v := p_version;
        PERFORM pg_advisory_xact_lock(1835363700);
        IF v > (SELECT s.last_value FROM memoryd.memory_version s) THEN
            PERFORM setval('memoryd.memory_version', v);
        END IF;
    END IF;
    RETURN QUERY
    INSERT INTO memoryd.memory_items AS i
           (tenant, ns, key, value, version, created_at, updated_at, expires_at, ttl_seconds)
    VALUES (p_tenant, p_ns, p_key, p_value, v, now(), now(),
            CASE WHEN p_ttl > 0 THEN now() + make_interval(secs => p_ttl) END,
            GREATEST(p_ttl, 0))
    ON CONFLICT (tenant, ns, key) DO UPDATE
       SET value = EXCLUDED.value, version = EXCLUDED.version,
           updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at,
           ttl_seconds = EXCLUDED.ttl_seconds,
           created_at = CASE WHEN i.expires_at IS NOT NULL AND i.expires_at <= now()
                             THEN EXCLUDED.created_at ELSE i.created_at END
    RETURNING 'ok'::text, i.version, i.created_at, i.updated_at, i.expires_at;
END
$$;
