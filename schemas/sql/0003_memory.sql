-- 0003: key-value memory per tenant (/memory, service/memory.h), the same
-- data the Redis store keeps (service/redis_memory.h), with the same
-- observable behaviour. Numbered 0003 so that 0002 stays free for the
-- conversations migration being written beside it.
--
-- Choices:
-- * A namespace is stored as one text, its labels joined by U+001F (labels
--   hold no control characters, so the join is unambiguous), COLLATE "C":
--   "the namespace p and everything below it" is ns = p OR ns in
--   [p || E'\x1f', p || ' '), a range of the primary key, never a scan of
--   other tenants or siblings, and no label character acts as a pattern.
-- * value is text, not jsonb: the exact JSON text the API received, as for
--   checkpoints. A value made invalid by hand is reported by memoryd, not
--   refused by a constraint it could not have met.
-- * version comes from one sequence: it grows with every write, so "most
--   recently updated first" is "version descending", and it is the ETag.
-- * expires_at NULL: the item never expires (MEMORY_ALLOW_PERSISTENT=1).
--   Reads ignore expired rows; memoryd's sweep deletes them in batches.
-- * Conditional writes (If-Match) are functions that lock the row first,
--   the equivalent of the Redis store's Lua scripts.

CREATE SEQUENCE memoryd.memory_version AS bigint;

CREATE TABLE memoryd.memory_items (
    tenant     text COLLATE "C" NOT NULL,
    ns         text COLLATE "C" NOT NULL, -- labels joined by U+001F
    key        text COLLATE "C" NOT NULL,
    value      text NOT NULL,             -- JSON text as received
    version    bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    expires_at timestamptz,               -- NULL: never
    PRIMARY KEY (tenant, ns, key)
);
-- search: a tenant's items most recently updated first
CREATE INDEX memory_items_recent ON memoryd.memory_items (tenant, version DESC);
CREATE INDEX memory_items_expires_at ON memoryd.memory_items (expires_at)
    WHERE expires_at IS NOT NULL;

-- If-Match: with p_if_match NULL, ok. Otherwise lock the live row and say
-- whether it is there ('*') or at that version; cur is its version.
CREATE FUNCTION memoryd.memory_match(p_tenant text, p_ns text, p_key text, p_if_match text,
                                     OUT ok boolean, OUT cur bigint)
LANGUAGE plpgsql AS $$
BEGIN
    ok := true;
    cur := NULL;
    IF p_if_match IS NULL THEN
        RETURN;
    END IF;
    SELECT i.version INTO cur FROM memoryd.memory_items i
     WHERE i.tenant = p_tenant AND i.ns = p_ns AND i.key = p_key
       AND (i.expires_at IS NULL OR i.expires_at > now())
       FOR UPDATE;
    ok := FOUND AND (p_if_match = '*' OR cur::text = p_if_match);
END
$$;

-- Put one item. p_ttl 0: no expiry. p_if_match NULL: unconditional; '*':
-- the item must exist; else its version must be p_if_match. Returns one row:
-- ('ok', version, created, updated, expires) or ('precondition', current
-- version or NULL, ...).
CREATE FUNCTION memoryd.memory_put(p_tenant text, p_ns text, p_key text, p_value text,
                                   p_ttl bigint, p_if_match text)
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
    v := nextval('memoryd.memory_version');
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

-- Delete one item under If-Match (as for memory_put). Returns
-- ('ok', 1 deleted / 0 absent, NULL) or ('precondition', 0, current).
CREATE FUNCTION memoryd.memory_delete(p_tenant text, p_ns text, p_key text, p_if_match text)
RETURNS TABLE (status text, deleted bigint, version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
    cur bigint;
    n bigint;
BEGIN
    SELECT m.ok, m.cur INTO ok, cur FROM memoryd.memory_match(p_tenant, p_ns, p_key, p_if_match) m;
    IF NOT ok THEN
        RETURN QUERY SELECT 'precondition'::text, 0::bigint, cur;
        RETURN;
    END IF;
    WITH d AS (
        DELETE FROM memoryd.memory_items i
         WHERE i.tenant = p_tenant AND i.ns = p_ns AND i.key = p_key
        RETURNING (i.expires_at IS NULL OR i.expires_at > now()) AS live)
    SELECT count(*) FILTER (WHERE live) INTO n FROM d;
    RETURN QUERY SELECT 'ok'::text, n, NULL::bigint;
END
$$;
