-- 0002: conversation history in PostgreSQL (service/pg_conv.c): the primary
-- store of /conversations when CONV_STORE_PRIMARY=postgres, and the archive
-- that takes the messages Redis trims beyond CONV_MAX_MESSAGES.
--
-- Choices:
-- * Every row carries its tenant, and ids are text COLLATE "C" (bytewise), as
--   in 0001.
-- * conversation_history keeps every message by (tenant, conversation_id,
--   seq), unique: the archive inserts with ON CONFLICT DO NOTHING, so writing
--   the same trimmed messages twice is harmless. Its rows do not expire: it is
--   the archive (delete a conversation to forget it; retention is the
--   operator's). Message metadata is jsonb (JSON-equal, not byte-equal, to
--   what was sent); content is text, byte-exact.
-- * conversations holds what Redis keeps in conv:meta: customer, metadata
--   (exact JSON text), times, the last seq, an expiry (CONV_TTL_SECONDS,
--   refreshed on write; the sweep deletes expired rows, their history stays).
--   A conversation whose row expired continues its numbering after the
--   history it has.
-- * Appends go through memoryd.conversation_append under a per-conversation
--   advisory lock: the equivalent of service/lua/conv_append.lua's atomicity.

CREATE TABLE memoryd.conversations (
    tenant          text COLLATE "C" NOT NULL,
    conversation_id text COLLATE "C" NOT NULL,
    customer_id     text COLLATE "C",
    metadata        text NOT NULL,            -- JSON text
    epoch           text NOT NULL,            -- this incarnation (a new one after a delete)
    last_seq        bigint NOT NULL,
    created_at      timestamptz NOT NULL,     -- milliseconds, as the API shows them
    updated_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant, conversation_id)
);
-- a customer's conversations, newest update first
CREATE INDEX conversations_customer
    ON memoryd.conversations (tenant, customer_id, updated_at DESC, conversation_id DESC);
CREATE INDEX conversations_expires_at ON memoryd.conversations (expires_at);

CREATE TABLE memoryd.conversation_history (
    tenant          text COLLATE "C" NOT NULL,
    conversation_id text COLLATE "C" NOT NULL,
    customer_id     text COLLATE "C",
    seq             bigint NOT NULL,
    message_id      text COLLATE "C",         -- the client's id (retries), or NULL
    role            text NOT NULL,
    content         text NOT NULL,
    metadata        jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    -- the window read (ORDER BY seq DESC LIMIT n) and pages by seq
    CONSTRAINT conversation_history_seq UNIQUE (tenant, conversation_id, seq)
);
-- deduplication of retried appends (not unique: the archive must accept a
-- trimmed message whatever its id)
CREATE INDEX conversation_history_message_id
    ON memoryd.conversation_history (tenant, conversation_id, message_id)
    WHERE message_id IS NOT NULL;
-- a customer's history, newest first
CREATE INDEX conversation_history_customer
    ON memoryd.conversation_history (tenant, customer_id, created_at DESC)
    WHERE customer_id IS NOT NULL;

-- Serialise the writers of one conversation until the end of the transaction.
CREATE FUNCTION memoryd.lock_conversation(p_tenant text, p_conv text) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock(1668247158, hashtext(p_tenant || chr(31) || p_conv))
$$;

-- Append a batch (service/lua/conv_append.lua, for PostgreSQL). p_expected
-- -1: no precondition. p_ids[i] '': no id; p_metadatas[i] '': {}. Returns status 'ok',
-- 'conflict' (expected_seq) or 'customer' (another customer's conversation),
-- whether it created the conversation, the count before, the last seq after,
-- and per message its seq and whether its id was already stored.
CREATE FUNCTION memoryd.conversation_append(
    p_tenant text, p_conv text, p_customer text, p_metadata text, p_expected bigint,
    p_ids text[], p_roles text[], p_contents text[], p_metadatas text[], p_ttl_seconds bigint,
    OUT status text, OUT created boolean, OUT count_before bigint, OUT last_seq bigint,
    OUT seqs bigint[], OUT dups boolean[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_now timestamptz := date_trunc('milliseconds', clock_timestamp());
    v_cur memoryd.conversations%ROWTYPE;
    v_fresh bigint := 0;
    v_seq bigint;
    n int := coalesce(array_length(p_roles, 1), 0);
BEGIN
    PERFORM memoryd.lock_conversation(p_tenant, p_conv);
    SELECT * INTO v_cur FROM memoryd.conversations c
    WHERE c.tenant = p_tenant AND c.conversation_id = p_conv AND c.expires_at > now();
    created := NOT FOUND;
    IF created THEN
        SELECT coalesce(max(h.seq), 0) INTO count_before FROM memoryd.conversation_history h
        WHERE h.tenant = p_tenant AND h.conversation_id = p_conv;
    ELSE
        count_before := v_cur.last_seq;
        IF p_customer IS NOT NULL AND v_cur.customer_id IS NOT NULL
           AND v_cur.customer_id <> p_customer THEN
            status := 'customer';
            last_seq := count_before;
            RETURN;
        END IF;
    END IF;
    seqs := '{}';
    dups := '{}';
    FOR i IN 1 .. n LOOP
        v_seq := NULL;
        IF p_ids[i] <> '' THEN
            SELECT h.seq INTO v_seq FROM memoryd.conversation_history h
            WHERE h.tenant = p_tenant AND h.conversation_id = p_conv
              AND h.message_id = p_ids[i] ORDER BY h.seq LIMIT 1;
            IF v_seq IS NULL THEN
                FOR j IN 1 .. i - 1 LOOP
                    IF p_ids[j] = p_ids[i] THEN
                        v_seq := seqs[j];
                        EXIT;
                    END IF;
                END LOOP;
            END IF;
        END IF;
        IF v_seq IS NOT NULL THEN
            seqs[i] := v_seq;
            dups[i] := true;
        ELSE
            v_fresh := v_fresh + 1;
            seqs[i] := count_before + v_fresh;
            dups[i] := false;
        END IF;
    END LOOP;
    IF v_fresh > 0 AND p_expected >= 0 AND p_expected <> count_before THEN
        status := 'conflict';
        last_seq := count_before;
        seqs := NULL;
        dups := NULL;
        RETURN;
    END IF;
    INSERT INTO memoryd.conversation_history (tenant, conversation_id, customer_id, seq,
        message_id, role, content, metadata, created_at)
    SELECT p_tenant, p_conv, coalesce(p_customer, v_cur.customer_id), seqs[i],
           nullif(p_ids[i], ''), p_roles[i], p_contents[i],
           coalesce(nullif(p_metadatas[i], '')::jsonb, '{}'::jsonb), v_now
    FROM generate_series(1, n) AS i
    WHERE NOT dups[i];
    last_seq := count_before + v_fresh;
    IF created THEN
        DELETE FROM memoryd.conversations c
        WHERE c.tenant = p_tenant AND c.conversation_id = p_conv;
        INSERT INTO memoryd.conversations (tenant, conversation_id, customer_id, metadata, epoch,
            last_seq, created_at, updated_at, expires_at)
        VALUES (p_tenant, p_conv, p_customer, coalesce(p_metadata, '{}'),
                (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text, last_seq, v_now,
                v_now, now() + make_interval(secs => p_ttl_seconds));
    ELSE
        UPDATE memoryd.conversations c SET
            customer_id = coalesce(p_customer, c.customer_id),
            metadata = coalesce(p_metadata, c.metadata),
            last_seq = conversation_append.last_seq,
            updated_at = CASE WHEN v_fresh > 0 THEN v_now ELSE c.updated_at END,
            expires_at = now() + make_interval(secs => p_ttl_seconds)
        WHERE c.tenant = p_tenant AND c.conversation_id = p_conv;
    END IF;
    status := 'ok';
END
$$;
