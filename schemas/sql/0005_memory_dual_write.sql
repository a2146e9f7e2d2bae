-- 0005: /memory under dual write (CONV_DUAL_WRITE). The secondary store
-- keeps the version the primary gave a write, so an ETag a client holds
-- stays valid when the primary switches.
--
-- memoryd.memory_put_as is memory_put with p_version: NULL numbers the write
-- from memoryd.memory_version as before; a version stores the write under it
-- and moves the sequence past it, so PostgreSQL's own numbering, once it is
-- primary, continues above every version it holds. Moving the sequence is
-- serialised by an advisory lock among dual writes; a PostgreSQL-primary
-- write on another replica in the same instant (only while a switch is
-- reaching it) can still take a number a dual write is storing, which
-- at worst gives two different items the same version.
-- memory_put keeps its signature and becomes memory_put_as(..., NULL), so
-- replicas of the previous release go on working during a rolling update.

CREATE FUNCTION memoryd.memory_put_as(p_tenant text, p_ns text, p_key text, p_value text,
                                      p_ttl bigint, p_if_match text, p_version bigint)
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
           (tenant, ns, key, value, version, created_at, updated_at, expires_at)
    VALUES (p_tenant, p_ns, p_key, p_value, v, now(), now(),
            CASE WHEN p_ttl > 0 THEN now() + make_interval(secs => p_ttl) END)
    ON CONFLICT (tenant, ns, key) DO UPDATE
       SET value = EXCLUDED.value, version = EXCLUDED.version,
           updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at,
           created_at = CASE WHEN i.expires_at IS NOT NULL AND i.expires_at <= now()
                             THEN EXCLUDED.created_at ELSE i.created_at END
    RETURNING 'ok'::text, i.version, i.created_at, i.updated_at, i.expires_at;
END
$$;

CREATE OR REPLACE FUNCTION memoryd.memory_put(p_tenant text, p_ns text, p_key text,
                                              p_value text, p_ttl bigint, p_if_match text)
RETURNS TABLE (status text, version bigint, created_at timestamptz, updated_at timestamptz,
               expires_at timestamptz)
LANGUAGE sql AS $$
    SELECT * FROM memoryd.memory_put_as(p_tenant, p_ns, p_key, p_value, p_ttl, p_if_match, NULL)
$$;
